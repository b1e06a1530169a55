"""A user's single CSV, as the README shows it: dev carved from train, no test split said plainly,
label names, an epoch line with the epoch's mean loss, a quiet log, a TensorBoard command that
works, one file (two names) for last.ckpt and the epoch's top-k, and a failed run's train.log."""

import json
import re
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_cli, write

TINY = ["embeddings=none", "model.embedding_dim=8", "model.hidden_size=8", "callbacks.progress_bar.refresh_rate=0", "data.batch_size=8"]


def _reviews(rows: int = 60) -> str:
    good, bad = ["a gorgeous witty film", "warm and funny", "loved it"], ["a dull mess", "boring and long", "hated it"]
    lines = ["review,stars"] + [f"{(good if i % 2 else bad)[i % 3]},{5 if i % 2 else 1}" for i in range(rows)]
    return "\n".join(lines) + "\n"


def test_one_csv_trains_and_says_there_is_no_test_split(tmp_path):
    write(tmp_path / "project" / "reviews.csv", _reviews())
    run_dir = tmp_path / "elsewhere" / "my-run"  # a custom hydra.run.dir outside logs/
    result = run_cli(
        ["-m", "bilstm_clf.train", "data=custom", "data.data_dir=.", "data.train_file=reviews.csv", "data.text_field=review",
         "data.label_field=stars", "data.label_names={1: bad, 5: good}", "trainer.max_epochs=2", f"hydra.run.dir={run_dir}", *TINY],
        cwd=tmp_path / "project",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "custom: no test split (data.test_file is null), best val/" in result.stdout
    assert "n/a" not in result.stdout
    assert "💡" not in output and "Tip:" not in output and "LeafSpec" not in output

    command = re.search(r"tensorboard: (\S+) --logdir (\S+)", result.stdout)
    assert command and Path(tmp_path / "project", command.group(1)).is_file()
    assert Path(tmp_path / "project", command.group(2)).resolve() == run_dir.resolve()

    assert json.loads((run_dir / "labels.json").read_text()) == ["bad", "good"]
    assert json.loads((run_dir / "bundle" / "labels.json").read_text()) == ["bad", "good"]

    # the epoch line shows the epoch's mean training loss, as TensorBoard's train/loss_epoch
    logged = [float(x) for x in re.findall(r"epoch \d: train/loss (\d\.\d+)", output)]
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    epoch_means = [e.value for e in events.Scalars("train/loss_epoch")]
    assert len(logged) == 2 and logged == [round(v, 4) for v in epoch_means]

    # save_top_k=2 keeps both epochs; epoch 1's file and last.ckpt are one file with two names
    checkpoints = run_dir / "checkpoints"
    (epoch1,) = checkpoints.glob("epoch01-*.ckpt")
    assert epoch1.stat().st_ino == (checkpoints / "last.ckpt").stat().st_ino
    (epoch0,) = checkpoints.glob("epoch00-*.ckpt")
    assert epoch0.stat().st_nlink == 1  # last.ckpt was written anew at epoch 1, epoch 0's file kept its state


def test_failed_run_leaves_the_error_in_train_log(tmp_path):
    write(tmp_path / "reviews.csv", "review,stars\na fine film,5\nno label here,\n")
    run_dir = tmp_path / "failed"
    result = run_cli(
        ["-m", "bilstm_clf.train", "data=custom", f"data.data_dir={tmp_path}", "data.train_file=reviews.csv", "data.text_field=review",
         "data.label_field=stars", f"hydra.run.dir={run_dir}", *TINY],
        cwd=tmp_path,
    )
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ") and "reviews.csv:3: missing label" in error
    assert error in (run_dir / "train.log").read_text()
