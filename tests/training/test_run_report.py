"""The end-of-run summary: a TensorBoard command that works as printed, and no test split said plainly."""

from pathlib import Path

from bilstm_clf.training.run_report import print_summary, tensorboard_command


def test_tensorboard_command_names_the_log_root_or_the_run_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = tensorboard_command(tmp_path / "logs/runs/sst2/2026/tensorboard", "logs")
    program, logdir = command.split(" --logdir ")
    assert logdir == "logs"
    executable = Path(program.split(" -m ")[0])
    assert executable.is_file() and (program.endswith("tensorboard") or program.endswith(" -m tensorboard.main"))
    # a run outside the log root (custom hydra.run.dir): TensorBoard on that run
    assert tensorboard_command("/elsewhere/run/tensorboard", "logs").endswith("--logdir /elsewhere/run")
    assert tensorboard_command(tmp_path / "mine/r1/tensorboard", "logs").endswith("--logdir mine/r1")


def test_summary_says_there_is_no_test_split(capsys):
    metrics = {"dataset": "custom", "best/val/acc": 0.75, "epochs_trained": 1, "train_seconds": 1.0, "run_dir": "r",
               "best_checkpoint": "r/c.ckpt", "tensorboard_log_dir": None}
    print_summary(metrics, "val/acc", no_test="data.test_file is null")
    out = capsys.readouterr().out
    assert "custom: no test split (data.test_file is null), best val/acc 75.00%" in out
    assert "n/a" not in out and "tensorboard" not in out
    print_summary({**metrics, "test/acc": 0.5, "test/f1_macro": 0.4}, "val/acc")
    assert "custom: test acc 50.00%, test macro-F1 40.00%" in capsys.readouterr().out
