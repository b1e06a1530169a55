"""Resume after SIGKILL and same-seed determinism, through the real entry point on a tiny dataset.

The runs use 3 epochs of 10 batches, last.ckpt every 5 steps, and a plateau schedule that halves
the LR after every epoch (mode=min on accuracy, patience 0), so a lost LR step, a replayed batch or
a different dropout mask after the resume would change the weights. A resume writes to a fresh
directory (<run>_1) and leaves the killed run as it was.
"""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import NEGATIVE, POSITIVE, ROOT, run_cli, write

COMPARED = ("test/acc", "test/f1_macro", "test/loss", "best/val/f1_macro", "epochs_trained")
# TensorBoard curves that must match too (the interrupted epoch's train/* averages cannot)
CURVES = ("val/acc", "val/loss", "val/f1_macro_best", "lr-Adam")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny")
    for name, n in (("train.tsv", 20), ("dev.tsv", 5), ("test.tsv", 5)):
        rows = [f"{POSITIVE[i % 5]}\tpos\n{NEGATIVE[i % 5]}\tneg\n" for i in range(n)]
        write(directory / name, "sentence\tlabel\n" + "".join(rows))
    return directory


def command(dataset, run_dir, *extra):
    return [
        "-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={dataset}", "data.train_file=train.tsv",
        "data.val_file=dev.tsv", "data.test_file=test.tsv", "data.text_field=sentence", "data.batch_size=4", "data.num_workers=1",
        "trainer.max_epochs=3", "trainer.deterministic=true", "optimizer.lr=0.01", "model.embedding_dim=16",
        "model.hidden_size=16", "scheduler.mode=min", "scheduler.patience=0",
        "+scheduler.threshold=1.0",  # min, by 100%: no epoch after the first improves, so the LR halves each epoch
        "callbacks.progress_bar.refresh_rate=0",
        "callbacks.last_checkpoint.every_n_train_steps=5", f"hydra.run.dir={run_dir}", *extra,
    ]


def train(dataset, run_dir, *extra):
    result = run_cli(command(dataset, run_dir, *extra), cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return outcome(run_dir)


def outcome(run_dir):
    """What must not depend on interruptions: metrics, the best checkpoint's name, the final state."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {
        "curves": {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in CURVES},
        "metrics": {k: metrics[k] for k in COMPARED},
        "best": os.path.basename(metrics["best_checkpoint"]),
        "global_step": last["global_step"],
        "weights": last["state_dict"],
        "lr_schedule": last["lr_schedulers"],
        "optimizer": last["optimizer_states"][0]["state"],
    }


def assert_same(a, b):
    assert a["metrics"] == b["metrics"]  # exactly, not approximately
    assert a["best"] == b["best"] and a["global_step"] == b["global_step"] == 30
    assert a["weights"].keys() == b["weights"].keys()
    assert all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])
    assert a["lr_schedule"] == b["lr_schedule"]
    for k, state in a["optimizer"].items():
        assert all(torch.equal(state[name], b["optimizer"][k][name]) for name in state)


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory):
    return train(dataset, tmp_path_factory.mktemp("uninterrupted") / "run")


def test_same_seed_twice_gives_identical_results(dataset, uninterrupted, tmp_path):
    again = train(dataset, tmp_path / "again")
    assert_same(again, uninterrupted)
    assert again["curves"] == uninterrupted["curves"] and len(again["curves"]["val/f1_macro_best"]) == 3
    assert uninterrupted["lr_schedule"][0]["_last_lr"][0] < 0.01  # the schedule did act


@pytest.mark.parametrize(
    ("pause_step", "resumed_from_step", "batches_done"),
    [
        (17, 15, 5),  # killed in epoch 1; last.ckpt from the middle of that epoch
        (12, 10, 10),  # killed in epoch 1; last.ckpt from the end of epoch 0
    ],
    ids=["mid-epoch-checkpoint", "epoch-end-checkpoint"],
)
def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_result(
    dataset, uninterrupted, tmp_path, pause_step, resumed_from_step, batches_done
):
    run_dir, marker = tmp_path / "run", tmp_path / "paused"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    pause = ["+callbacks.pause._target_=tests.helpers.PauseAtStep", f"+callbacks.pause.step={pause_step}", f"+callbacks.pause.marker={marker}"]
    process = subprocess.Popen([sys.executable, *command(dataset, run_dir, *pause)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert process.poll() is None, process.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "training never reached the pause"
            time.sleep(0.1)
        assert marker.read_text().split() == ["epoch", "1", "step", str(pause_step)]  # inside epoch 1 of 0..2
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    assert not (run_dir / "metrics.json").exists()

    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == resumed_from_step
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]["batches_done"] == batches_done
    killed_run = snapshot(run_dir)

    result = run_cli(command(dataset, run_dir, "ckpt_path=last"), cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert snapshot(run_dir) == killed_run  # the resume wrote to a fresh directory
    resumed = outcome(run_dir.with_name("run_1"))
    assert_same(resumed, uninterrupted)
    # the resumed run's TensorBoard curves continue the uninterrupted ones from the checkpoint on
    for tag, points in resumed["curves"].items():
        expected = {step: value for step, value in uninterrupted["curves"][tag].items() if step >= resumed_from_step}
        assert points == expected, tag


def snapshot(directory):
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*") if p.is_file()}


def test_the_best_validation_score_survives_a_resume():
    """val/f1_macro_best is a running maximum: a resumed run must not forget the epochs before the checkpoint."""
    from bilstm_clf.training.lit_module import SentenceClassifierModule

    def module():
        return SentenceClassifierModule({"vocab_size": 10, "num_classes": 2, "embedding_dim": 4, "hidden_size": 4}, ["neg", "pos"])

    before = module()
    for score in (0.8, 0.6):
        before.val_best.update(torch.tensor(score))
    checkpoint = {}
    before.on_save_checkpoint(checkpoint)

    after = module()
    after.on_load_checkpoint(checkpoint)
    after.on_train_start()
    after.val_best.update(torch.tensor(0.7))
    assert after.val_best.compute().item() == pytest.approx(0.8)

    fresh = module()  # nothing to resume: starts from scratch
    fresh.on_train_start()
    fresh.val_best.update(torch.tensor(0.7))
    assert fresh.val_best.compute().item() == pytest.approx(0.7)


def test_top_k_memory_survives_the_move_to_a_fresh_run_directory(tmp_path):
    """A resume writes to <run>_1; Lightning's ModelCheckpoint forgets the scores it restores then."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    from bilstm_clf.training.callbacks import TopKCheckpoint

    old_dir = tmp_path / "run" / "checkpoints"
    state = {
        **ModelCheckpoint(dirpath=old_dir, monitor="val/acc", mode="max", save_top_k=2).state_dict(),
        "best_model_score": torch.tensor(0.9),
        "best_model_path": str(old_dir / "a.ckpt"),
        "best_k_models": {str(old_dir / "a.ckpt"): torch.tensor(0.9), str(old_dir / "b.ckpt"): torch.tensor(0.8)},
        "kth_best_model_path": str(old_dir / "b.ckpt"),
        "kth_value": torch.tensor(0.8),
    }
    remembered = {}
    for cls in (TopKCheckpoint, ModelCheckpoint):
        new = cls(dirpath=tmp_path / "run_1" / "checkpoints", monitor="val/acc", mode="max", save_top_k=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lightning warns that it forgets
            new.load_state_dict(state)
        remembered[cls] = (new.best_model_score, sorted(new.best_k_models), new.kth_value)
    assert remembered[TopKCheckpoint] == (torch.tensor(0.9), [str(old_dir / "a.ckpt"), str(old_dir / "b.ckpt")], torch.tensor(0.8))
    assert remembered[ModelCheckpoint][0] is None and remembered[ModelCheckpoint][1] == []
