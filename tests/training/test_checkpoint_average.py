"""Checkpoint averaging (``final_weights``): the mean it writes, the members it takes, and a real run's."""

import json
import os
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from bilstm_clf.training.checkpoint_average import AVERAGE_FILE, average_state_dicts, final_checkpoint, members, write_average
from bilstm_clf.training.lit_module import CHECKPOINT_KEY
from tests.conftest import ROOT, run_cli


def state(seed: int, dtype=torch.float32) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {
        "model.lstm.weight": torch.randn(3, 4, generator=generator).to(dtype),
        "model.subwords.ids": torch.randint(0, 9, (5,), generator=generator),  # an integer buffer
    }


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=5))
def test_the_mean_is_elementwise_and_integer_buffers_are_the_firsts(seeds):
    states = [state(s) for s in seeds]
    mean = average_state_dicts(states)
    expected = torch.stack([s["model.lstm.weight"] for s in states]).double().mean(0).float()
    assert mean["model.lstm.weight"].dtype == torch.float32
    assert torch.allclose(mean["model.lstm.weight"], expected, atol=1e-6)
    assert torch.equal(mean["model.subwords.ids"], states[0]["model.subwords.ids"])


def test_the_members_are_never_modified():
    states = [state(1, torch.float64), state(2, torch.float64)]
    before = [s["model.lstm.weight"].clone() for s in states]
    average_state_dicts(states)
    assert all(torch.equal(s["model.lstm.weight"], b) for s, b in zip(states, before))


def test_members_by_mode_each_file_once(tmp_path):
    best, other = tmp_path / "epoch03.ckpt", tmp_path / "epoch01.ckpt"
    for path in (best, other):
        path.write_bytes(b"x")
    last = tmp_path / "last.ckpt"
    os.link(best, last)  # the newest top-k file and last.ckpt are often one file
    assert members("best", best, [best, other], last) == [best]
    assert members("average_top_k", best, [best, other], last) == [best, other]
    assert members("average", best, [other, best], last) == [best, other]  # last is best: once
    newer = tmp_path / "newer.ckpt"
    newer.write_bytes(b"y")
    assert members("average", best, [best, other], newer) == [best, other, newer]
    assert members("average", best, [best, tmp_path / "gone.ckpt"], None) == [best]


def checkpoint(path: Path, seed: int, step: int) -> Path:
    torch.save({"state_dict": state(seed), "global_step": step, "epoch": step // 10, CHECKPOINT_KEY: {"label_names": ["a", "b"]}}, path)
    return path


def test_the_written_average_keeps_the_firsts_metadata_and_counts_each_state_once(tmp_path):
    first, second = checkpoint(tmp_path / "a.ckpt", 1, 10), checkpoint(tmp_path / "b.ckpt", 2, 20)
    copy = checkpoint(tmp_path / "c.ckpt", 2, 20)  # the same step's state under another name (not a link)
    out = write_average([first, second, copy], tmp_path / AVERAGE_FILE)
    written = torch.load(out, weights_only=True)
    expected = average_state_dicts([state(1), state(2)])
    assert torch.allclose(written["state_dict"]["model.lstm.weight"], expected["model.lstm.weight"])
    assert written["global_step"] == 10 and written[CHECKPOINT_KEY]["label_names"] == ["a", "b"]
    assert written[CHECKPOINT_KEY]["averaged_from"] == ["a.ckpt", "b.ckpt", "c.ckpt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ckpt", AVERAGE_FILE, "b.ckpt", "c.ckpt"]  # no temporary left


def test_one_member_or_best_mode_keeps_the_best_file(tmp_path):
    best = str(checkpoint(tmp_path / "a.ckpt", 1, 10))
    assert final_checkpoint("average", best, [best], None, tmp_path) == (best, [])
    other = str(checkpoint(tmp_path / "b.ckpt", 2, 20))
    assert final_checkpoint("best", best, [best, other], None, tmp_path) == (best, [])
    assert final_checkpoint("average_top_k", best, [best, other], None, tmp_path) == (str(tmp_path / AVERAGE_FILE), ["a.ckpt", "b.ckpt"])


def test_a_run_validates_tests_and_exports_the_mean_of_its_checkpoints(tiny_dataset, tmp_path):
    run_dir = tmp_path / "averaged"
    result = run_cli(
        ["-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv",
         "data.val_file=dev.tsv", "data.test_file=test.tsv", "data.text_field=sentence", "data.batch_size=8", "trainer.max_epochs=4", "model.embedding_dim=16", "model.hidden_size=16", "optimizer.lr=0.01",
         "callbacks.early_stopping.patience=10", "callbacks.progress_bar.refresh_rate=0", "logger=none", f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["final_weights"] == "average" and Path(metrics["best_checkpoint"]).name == AVERAGE_FILE
    averaged = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True)
    names = averaged[CHECKPOINT_KEY]["averaged_from"]
    assert metrics["averaged_from"] == names and f"the mean of {', '.join(names)}" in result.stdout
    member_states = [torch.load(run_dir / "checkpoints" / n, map_location="cpu", weights_only=True) for n in names]
    distinct = {m["global_step"]: m["state_dict"] for m in member_states}
    assert len(distinct) >= 2 and names[0] != "last.ckpt"  # the best first; last.ckpt only where it is not one of the top 2
    expected = average_state_dicts(list(distinct.values()))
    for key, value in averaged["state_dict"].items():
        assert torch.allclose(value, expected[key], atol=1e-6), key
    assert averaged[CHECKPOINT_KEY]["calibration"]["method"] == "temperature"  # calibrated and exported from the mean
    bundle_meta = json.loads((run_dir / "bundle" / "metadata.json").read_text())
    assert Path(bundle_meta["checkpoint"]["path"]).name == AVERAGE_FILE

    # the paired bench scores this run's best, its top-k mean and its top-k + last mean (= what was tested)
    bench = run_cli(["scripts/bench_checkpoint_average.py", "--file", f"test={tiny_dataset / 'test.tsv'}", str(run_dir)], cwd=ROOT)
    assert bench.returncode == 0, bench.stderr[-3000:]
    row = next(line for line in bench.stdout.splitlines() if line.startswith("| run "))
    assert row.count("|") == 5
    cells = next(line for line in bench.stdout.splitlines() if line.startswith(f"| {run_dir.name} ")).split("|")[2:5]
    tested = float(cells[2].split("/")[0])  # last.ckpt counted once where it is a top-k file too
    assert tested == pytest.approx(100 * metrics["test/acc"], abs=0.01)


@pytest.mark.parametrize("value", ["mean", "", None])
def test_unknown_final_weights_are_refused(value):
    from omegaconf import OmegaConf

    from bilstm_clf.common.config_checks import check_task_config
    from bilstm_clf.common.errors import ConfigError

    with pytest.raises(ConfigError, match="final_weights"):
        check_task_config(OmegaConf.create({"final_weights": value}), multi_label=False)
