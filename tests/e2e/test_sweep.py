"""Multirun sweeps: one run directory each, side by side in TensorBoard, tabulated by scripts/tabulate_runs.py."""

import json

import pytest

from bilstm_clf.training.tabulate import main as tabulate_main
from tests.conftest import ROOT, run_cli, write


def test_pooling_sweep_gives_one_run_each_and_a_table(tiny_dataset, tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli(
        ["-m", "bilstm_clf.train", "-m", "embeddings=none", "model.pooling=last,mean,max", "data=custom", f"data.data_dir={tiny_dataset}",
         "data.train_file=train.tsv", "data.val_file=dev.tsv", "data.test_file=test.tsv", "data.text_field=sentence",
         "trainer.max_epochs=1", "model.embedding_dim=16", "model.hidden_size=16", "callbacks.progress_bar.refresh_rate=0",
         f"hydra.sweep.dir={sweep}"],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in runs] == ["0", "1", "2"]  # one numbered directory per job
    for run, pooling in zip(runs, ["last", "mean", "max"]):
        assert f"- model.pooling={pooling}" in (run / ".hydra" / "overrides.yaml").read_text().splitlines()
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["run_dir"] == str(run) and 0.0 <= metrics["test/acc"] <= 1.0
        # each run's events in its own directory: `tensorboard --logdir SWEEP` lists them side by side
        assert metrics["tensorboard_log_dir"].rstrip("/") == str(run / "tensorboard")
        assert any(p.name.startswith("events.out.tfevents") for p in (run / "tensorboard").iterdir())

    table = run_cli(["scripts/tabulate_runs.py", str(sweep), "--sort", "test/acc"], cwd=ROOT)
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith("| ") and not line.startswith("| run")]
    assert sorted(row.split(" | ")[1] for row in rows) == ["last", "max", "mean"]
    accuracies = [float(row.split(" | ")[2]) for row in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    header = table.stdout.splitlines()[2]
    assert header == ("| run | model.pooling | test/acc | test/ece | test/ece_calibrated | test/f1_macro | test/loss "
                      "| val/acc | val/ece | val/ece_calibrated | val/f1_macro | val/loss "
                      "| best/val/f1_macro | epochs_trained | train_seconds |")
    assert "`data=custom`" in table.stdout.splitlines()[0]  # shared overrides above the table


def fake_run(directory, overrides, metrics):
    write(directory / ".hydra" / "overrides.yaml", "".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        write(directory / "metrics.json", json.dumps(metrics))


def test_table_shows_varying_overrides_sorted_runs_and_unfinished_ones(tmp_path, capsys):
    for num, (lr, acc) in enumerate([("0.1", 0.5), ("0.01", 0.75), ("0.001", 0.625)]):
        fake_run(tmp_path / f"{num}_optimizer.lr={lr}", ["data=trec", f"optimizer.lr={lr}"],
                 {"test/acc": acc, "best/val/acc": None, "epochs_trained": 3, "train_seconds": 1.5, "dataset": "trec"})
    fake_run(tmp_path / "10_optimizer.lr=1", ["data=trec", "optimizer.lr=1"], {"test/acc": 0.25, "epochs_trained": 1})
    fake_run(tmp_path / "3_optimizer.lr=0.5", ["data=trec", "optimizer.lr=0.5"], None)

    tabulate_main([str(tmp_path), "--sort", "test/acc"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Shared overrides: `data=trec`"
    assert lines[2:] == [
        "| run | optimizer.lr | test/acc | best/val/acc | epochs_trained | train_seconds |",
        "|---|---|---:|---:|---:|---:|",
        "| 1 | 0.01 | 0.7500 | n/a | 3 | 1.5 |",
        "| 2 | 0.001 | 0.6250 | n/a | 3 | 1.5 |",
        "| 0 | 0.1 | 0.5000 | n/a | 3 | 1.5 |",
        "| 10 | 1 | 0.2500 | n/a | 1 | n/a |",
        "",
        "No metrics.json (running or failed): 3",
    ]

    tabulate_main([str(tmp_path)])  # unsorted: by job number, 10 after 3
    assert [line.split(" | ")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line][1:] == [
        "| 0", "| 1", "| 2", "| 10"]


def test_over_seed_folds_seeds_into_mean_and_sample_std(tmp_path, capsys):
    for num, (pooling, seed, acc, seconds) in enumerate(
        [("max", "1", 0.80, 10.0), ("max", "2", 0.84, 12.0), ("max", "3", 0.85, 11.0), ("last", "1", 0.70, 9.0)]
    ):
        fake_run(tmp_path / str(num), ["experiment=sst2_glove", f"model.pooling={pooling}", f"seed={seed}"],
                 {"test/acc": acc, "train_seconds": seconds})
    tabulate_main([str(tmp_path), "--over", "seed", "--percent"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Shared overrides: `experiment=sst2_glove`"
    assert lines[2:] == [
        "| model.pooling | runs | seed | test/acc | train_seconds |",
        "|---|---:|---|---:|---:|",
        "| max | 3 | 1,2,3 | 83.00 ± 2.65 | 11.0 ± 1.0 |",  # stdev([80, 84, 85]) = 2.646
        "| last | 1 | 1 | 70.00 | 9.0 |",
    ]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "{d}/missing: no such directory"),
        (lambda d: write(d / "a.txt", "x"), "{d}: no metrics.json below this directory (not a sweep directory, or no run has finished)"),
        (lambda d: write(d / "0_x" / "metrics.json", '{"test/acc": 0.5,\n oops}'), "{d}/0_x/metrics.json:2: not valid JSON: Expecting property name enclosed in double quotes"),
        (lambda d: write(d / "0_x" / "metrics.json", "[1, 2]"), "{d}/0_x/metrics.json: expected a JSON object of metrics"),
        (lambda d: (write(d / "0_x" / "metrics.json", "{}"), write(d / "0_x" / ".hydra" / "overrides.yaml", "a: b\n")),
         "{d}/0_x/.hydra/overrides.yaml: expected a YAML list of key=value overrides"),
    ],
    ids=["missing", "empty", "bad-json", "not-an-object", "bad-overrides"],
)
def test_bad_sweep_directories_give_one_line_naming_the_file(tmp_path, setup, message):
    setup(tmp_path)
    target = tmp_path / "missing" if "missing" in message else tmp_path
    result = run_cli(["scripts/tabulate_runs.py", str(target)], cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: " + message.format(d=tmp_path)
