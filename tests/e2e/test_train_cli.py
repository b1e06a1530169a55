"""The Hydra entry point, run as users run it."""

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import ROOT, SHARED_DATASETS, run_cli

FAST = ["trainer.max_epochs=2", "callbacks.progress_bar.refresh_rate=0", "model.embedding_dim=16", "model.hidden_size=16"]


def test_fast_run_with_overrides_writes_metrics_and_tensorboard(tiny_dataset, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        ["-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv",
         "data.val_file=dev.tsv", "data.test_file=test.tsv", "data.text_field=sentence", "model.pooling=attention",
         "model.num_layers=2", "optimizer.lr=0.01", f"hydra.run.dir={run_dir}", *FAST],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) >= {"test/acc", "test/f1_macro", "best/val/f1_macro", "best_checkpoint", "tensorboard_log_dir"}
    assert 0.0 <= metrics["test/acc"] <= 1.0
    assert Path(metrics["best_checkpoint"]).is_file()
    assert json.loads((run_dir / "labels.json").read_text()) == ["neg", "pos"]
    assert "test acc" in result.stdout

    events = EventAccumulator(metrics["tensorboard_log_dir"], size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss_epoch", "val/acc", "val/f1_macro", "val/loss", "lr-Adam", "test/acc", "test/f1_macro"} <= scalars
    # the hparams table holds the real final metrics, not a placeholder
    hp_values = [e.value for e in events.Scalars("hp/test/acc")]
    assert hp_values == [pytest.approx(metrics["test/acc"])]


def test_config_error_is_one_line_and_exit_2(tiny_dataset, tmp_path):
    result = run_cli(
        ["-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv",
         "data.text_field=sentence", "model.pooling=min", f"hydra.run.dir={tmp_path / 'r'}", *FAST],
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: config model.pooling='min': expected one of attention, last, mean, max"


def test_bad_data_error_names_file_and_line(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "train.csv").write_text("text,label\ngood,1\nbad\nok,0\n")
    result = run_cli(["-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={data}", f"hydra.run.dir={tmp_path / 'r'}", *FAST], cwd=ROOT)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{data / 'train.csv'}:3: expected at least 2 fields, found 1" in result.stderr


@pytest.mark.skipif(not (SHARED_DATASETS / "trec").is_dir(), reason="needs the TREC mirror")
def test_trec_with_max_pooling_runs(tmp_path):
    """The issue's example: data=trec model.pooling=max (2 short epochs, carved validation split)."""
    result = run_cli(
        ["-m", "bilstm_clf.train", "embeddings=none", "data=trec", "model.pooling=max", "trainer.max_epochs=2", "trainer.limit_train_batches=10",
         "callbacks.progress_bar.refresh_rate=0", f"paths.data_dir={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'r'}"],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "data" / "trec" / "train.tsv").is_file()  # materialised from the mirror
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["dataset"] == "trec" and metrics["test/acc"] > 1 / 6
    assert json.loads((tmp_path / "r" / "labels.json").read_text()) == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def test_pretrained_text_vectors_frozen_then_unfrozen_at_a_lower_rate(tiny_dataset, tmp_path):
    from tests.conftest import NEGATIVE, POSITIVE

    words = sorted({w for s in POSITIVE + NEGATIVE for w in s.split()})
    unseen = ["splendid", "dreadful"]  # in the vectors, not in the training data: added, kept fixed
    vectors = tmp_path / "vectors.txt"
    vector = lambda i: [(i * 7 + j) % 5 - 2 for j in range(12)]
    vectors.write_text("".join(f"{w} {' '.join(map(str, vector(i)))}\n" for i, w in enumerate(words[:-3] + unseen)))
    run_dir = tmp_path / "run"
    result = run_cli(
        ["-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv",
         "data.val_file=dev.tsv", "data.test_file=test.tsv", "data.text_field=sentence", "embeddings=text_file",
         f"embeddings.path={vectors}", "embeddings.freeze=true", "embeddings.unfreeze_at_epoch=1", "embeddings.lr_scale=0.5",
         "embeddings.vocab_from_vectors=1000", f"hydra.run.dir={run_dir}", *FAST],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    n = len(words)
    assert metrics["embedding_coverage"].startswith(f"pretrained vectors cover {n - 3} of {n} vocabulary words")
    assert "epoch 1: embeddings unfrozen" in result.stderr + result.stdout
    import torch

    state = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True)
    assert state["hyper_parameters"]["model_config"]["embedding_dim"] == 12  # taken from the vectors
    assert state["hyper_parameters"]["model_config"]["frozen_words"] == 2
    fixed = torch.tensor([vector(i) for i in range(len(words) - 3, len(words) - 1)], dtype=torch.float32)
    torch.testing.assert_close(state["state_dict"]["model.frozen_vectors"], fixed)  # unchanged by training
    bundle_vocab = json.loads((run_dir / "bundle" / "tokenizer.json").read_text())["model"]["vocab"]
    assert [bundle_vocab[w] for w in unseen] == [n + 2, n + 3]
    bench = run_cli(["scripts/bench_unseen_words.py", "--test", str(tiny_dataset / "dev.tsv"), "--cuts", "0,1000",
                     "--ranked-by", str(vectors), str(run_dir)], cwd=ROOT)
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert "| run | 2 |" in bench.stdout and "| mean of 1 |" in bench.stdout  # the run dir "run": 2 added words
    assert "dev.tsv: 0.0% of the texts hold a word training never showed (0.0% of tokens)" in bench.stdout
    rates = [group["lr"] for group in state["optimizer_states"][0]["param_groups"]]
    assert rates[1] == pytest.approx(0.5 * rates[0])  # the table's group, at embeddings.lr_scale
    events = EventAccumulator(metrics["tensorboard_log_dir"], size_guidance={"scalars": 0})
    events.Reload()
    assert {"lr-Adam/model", "lr-Adam/embeddings"} <= set(events.Tags()["scalars"])


def test_optuna_search_runs_trials_and_reports_best(tiny_dataset, tmp_path):
    result = run_cli(
        ["-m", "bilstm_clf.train", "-m", "embeddings=none", "hparams_search=optuna", "hydra.sweeper.n_trials=2", "data=custom",
         f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv", "data.val_file=dev.tsv", "data.text_field=sentence",
         f"paths.log_dir={tmp_path}", "trainer.max_epochs=1", "model.embedding_dim=8", "callbacks.progress_bar.refresh_rate=0"],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (results,) = tmp_path.glob("multiruns/custom/*/optimization_results.yaml")
    assert "best_params:" in results.read_text() and "model.pooling" in results.read_text()
    trials = [json.loads(p.read_text()) for p in tmp_path.glob("multiruns/custom/*/*/metrics.json")]
    assert len(trials) == 2
    # the objective is the dev score of the weights each trial tested and exported
    best_value = float(next(line for line in results.read_text().splitlines() if line.startswith("best_value:")).split(":", 1)[1])
    assert best_value == pytest.approx(max(t["val/f1_macro"] for t in trials))


def test_training_without_a_logger(tiny_dataset, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        ["-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv",
         "data.val_file=dev.tsv", "data.test_file=test.tsv", "data.text_field=sentence", "logger=none",
         f"hydra.run.dir={run_dir}", *FAST],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tensorboard_log_dir"] is None and 0.0 <= metrics["test/acc"] <= 1.0


def test_a_bf16_run_leaves_no_lightning_noise_on_stderr(tiny_dataset, tmp_path):
    """precision=auto picks bf16 on CPUs with AVX512-BF16; forced here so every machine checks it."""
    result = run_cli(
        ["-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv",
         "data.val_file=dev.tsv", "data.test_file=test.tsv", "data.text_field=sentence", "trainer.precision=bf16-mixed",
         "logger=none", f"hydra.run.dir={tmp_path / 'run'}", *FAST],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model summary" not in result.stderr and "Warning" not in result.stderr, result.stderr[-3000:]
