"""The benchmark scripts run end to end (--quick: seconds) and count FLOPs as torch does."""

import importlib.util
import json
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bilstm_clf.models import BiLSTMClassifier
from tests.conftest import ROOT, run_cli


def _load_script(name: str):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def test_bench_train_quick_measures_every_variant_and_prints_the_tables(tiny_dataset, tmp_path):
    out = tmp_path / "bench.json"
    result = run_cli(["scripts/bench_train.py", "--quick", "--data", str(tiny_dataset / "train.tsv"), "--json", str(out)], cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| variant | sentences/s | tokens/s | GFLOP/s | MFU |" in result.stdout
    assert "| Lightning / raw loop |" in result.stdout
    report = json.loads(out.read_text())
    bench = _load_script("bench_train")
    assert set(report["results"]) == set(bench.VARIANTS)
    for variant, figures in report["results"].items():
        assert figures["sentences_per_s"] > 0 and figures["tokens_per_s"] > figures["sentences_per_s"], variant
        assert 0 < figures["mfu"] < 1, variant
    assert set(report["ratios"]) == {f"{num}/{den}" for num, den, _, _ in bench.RATIOS}
    assert report["peak_gflops"] > 0


def test_bench_tokenize_quick_prints_its_table(tiny_dataset):
    result = run_cli(["scripts/bench_tokenize.py", "--quick", "--data", str(tiny_dataset / "train.tsv"), "--sentences", "3000"], cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| Tokenizer.encode_batch, 3,000 sentences |" in result.stdout
    assert "| basic_english: WordIndex, 3,000 sentences |" in result.stdout  # and it asserted the same ids as HF
    assert "of a training step" in result.stdout


def test_bench_data_quick_runs_each_path_and_prints_its_table(tmp_path):
    result = run_cli(["scripts/bench_data.py", "--quick", "--work", str(tmp_path / "work")], cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 20,000 |")]
    assert [row.split(" | ")[2] for row in rows][:2] == ["streaming + cache", "previous (whole file, HF encode)"]
    assert "20 in" in rows[0]  # the training steps ran over the cached splits
    assert not (tmp_path / "work" / "cache20000").exists()  # nothing left behind


@pytest.mark.parametrize(("pooling", "num_layers", "bidirectional"), [("last", 1, True), ("mean", 2, True), ("last", 2, False)])
def test_train_flops_match_torch_flop_counter(pooling, num_layers, bidirectional):
    """The MFU numerator: torch's FlopCounterMode on a training pass of the packed model (per-step
    matmuls on real tokens only, lengths not all equal) plus the embedding-gradient adds."""
    bench = _load_script("bench_train")
    config = dict(vocab_size=40, num_classes=3, embedding_dim=12, hidden_size=7, num_layers=num_layers,
                  bidirectional=bidirectional, pooling=pooling, merge_mode="concat", attention_size=5)
    torch.manual_seed(0)
    model = BiLSTMClassifier(**config, encoder="packed")
    lengths = torch.tensor([9, 5, 3, 7, 1])
    ids = torch.randint(2, 40, (5, 9)) * (torch.arange(9)[None, :] < lengths[:, None])
    with FlopCounterMode(display=False) as counter:
        model(ids, lengths).sum().backward()
    tokens, sentences, hidden = int(lengths.sum()), len(lengths), config["hidden_size"]
    # "training = 3x forward" is exact but for the gradient of the zero initial state, which
    # autograd skips: at most one [B, H] x [H, 4H] product per direction and layer.
    initial_state_grads = 2 * sentences * 4 * hidden * hidden * (2 if bidirectional else 1) * num_layers
    counted = counter.get_total_flops() + config["embedding_dim"] * tokens
    assert counted <= bench.train_flops(config, tokens, sentences) <= counted + initial_state_grads


def test_bench_inference_measures_eager_exact_and_int8_side_by_side(tiny_dataset):
    """On a test.tsv alone (no train.tsv beside it: the vocabulary comes from the test sentences),
    never on whatever data/ holds."""
    (tiny_dataset / "train.tsv").unlink()
    result = run_cli(["scripts/bench_inference.py", "--data-dir", str(tiny_dataset), "--repeats", "1", "--embedding-dim", "16",
                      "--hidden-size", "8", "--batch-sizes", "1,64"], cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    diff_line = next(line for line in lines if line.startswith("max |p_torch - p_onnx|"))
    assert float(diff_line.split(": ")[1].split()[0]) < 1e-5  # the exact bundle is exact
    split = lines.index(next(line for line in lines if line.startswith("latency per sentence")))
    rows = {line.split()[0]: line.split() for line in lines[:split] if line.split() and line.split()[0] in ("1", "64")}
    assert set(rows) == {"1", "64"}
    for cells in rows.values():  # batch, torch, exact, exact/torch, int8, int8/torch, [sliced]
        assert cells[3].endswith("x") and cells[5].endswith("x") and float(cells[3][:-1]) > 0 and float(cells[5][:-1]) > 0
    latency = lines[split + 2 :]
    for line in latency[:2]:  # batch, then p50 / p99 for torch, exact, int8, then the p50 ratio
        cells = line.split()
        assert cells[0] in ("1", "64") and cells[2] == cells[5] == cells[8] == "/"
        p50s, p99s = [float(cells[i]) for i in (1, 4, 7)], [float(cells[i]) for i in (3, 6, 9)]
        assert all(0 < p50 <= p99 for p50, p99 in zip(p50s, p99s)) and cells[10].endswith("x")


def test_bench_onnx_graph_profiles_both_graphs_and_the_lstm_op(tiny_dataset):
    result = run_cli(["scripts/bench_onnx_graph.py", "--quick", "--data-dir", str(tiny_dataset), "--embedding-dim", "16", "--hidden-size", "8"], cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    heads = [line for line in lines if line.endswith("µs per sentence")]
    assert [h.split()[0] for h in heads] == ["direct", "torchscript"]
    assert heads[0].startswith("direct graph: 8 nodes;") and int(heads[1].split()[2]) > 8  # the reversal gathers are gone
    direct_ops = lines[lines.index(heads[0]) + 1 : lines.index(heads[1])]
    assert sorted(line.split()[0] for line in direct_ops if line.strip()) == ["Cast", "Flatten", "Gather", "Gemm", "LSTM", "Softmax", "Transpose"]
    shapes = [line.split() for line in lines[lines.index(next(line for line in lines if line.startswith("the LSTM op alone"))) + 2 :]]
    assert len(shapes) == 4 and all(float(cells[4]) > 0 for cells in shapes)
    assert not list(tiny_dataset.glob("*.json")) and not list(ROOT.glob("onnxruntime_profile_*.json"))  # profiles cleaned up


@pytest.mark.parametrize(("script", "args", "tried"), [
    ("bench_tokenize.py", ["--data", "{d}/missing.tsv"], "{d}/missing.tsv (pass --data FILE.tsv)"),
    ("bench_inference.py", ["--data-dir", "{d}"], "{d}/test.tsv (pass --data-dir)"),
])
def test_bench_scripts_name_a_missing_data_file_in_one_line(script, args, tried, tmp_path):
    result = run_cli([f"scripts/{script}", *(a.format(d=tmp_path) for a in args)], cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: no data file; tried " + tried.format(d=tmp_path)
