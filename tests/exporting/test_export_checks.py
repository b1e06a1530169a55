"""What the export and the runtime refuse beyond the corpus (tests/reliability_cases.py): the best
checkpoint of an interrupted run, the runtime's count arguments."""

from __future__ import annotations

import pytest
import torch

from bilstm_clf.exporting.bundle_writer import export_bundle
from bilstm_clf.exporting.checkpoints import resolve_checkpoint
from bilstm_clf.serving.runtime import Classifier
from tests.export_helpers import save_checkpoint, tiny_encoder

LABELS = ["neg", "pos"]


def test_an_interrupted_run_resolves_its_best_checkpoint_through_topk_state(tmp_path):
    """No metrics.json (the run was stopped): last.ckpt's TopKCheckpoint state names the best."""
    encoder = tiny_encoder()
    run = tmp_path / "run"
    for name in ("epoch00-f10.5000.ckpt", "epoch01-f10.9000.ckpt"):
        save_checkpoint(run / "checkpoints" / name, encoder, LABELS)
    path, _ = save_checkpoint(run / "checkpoints" / "last.ckpt", encoder, LABELS)
    last = torch.load(path, weights_only=True)
    key = "TopKCheckpoint{'monitor': 'val/f1_macro', 'mode': 'max', 'every_n_train_steps': 0, 'every_n_epochs': 1}"
    last["callbacks"] = {key: {"best_model_path": "/elsewhere/run/checkpoints/epoch01-f10.9000.ckpt"}}
    torch.save(last, path)
    assert resolve_checkpoint(run) == run / "checkpoints" / "epoch01-f10.9000.ckpt"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("checks")
    checkpoint, _ = save_checkpoint(root / "m.ckpt", tiny_encoder(), LABELS)
    return Classifier.load(export_bundle(checkpoint, root / "bundle"))


@pytest.mark.parametrize("size", [-1, 0, True, 2.5, "8"])
def test_runtime_count_arguments_are_checked(classifier, size):
    with pytest.raises(ValueError, match=r"batch_size=.*: must be a positive integer"):
        classifier.predict(["i loved it", "i hated it"], batch_size=size)
    with pytest.raises(ValueError, match=r"batch_size=.*: must be a positive integer"):
        classifier.predict_proba(["i loved it"], batch_size=size)
    with pytest.raises(ValueError, match=r"chunk_size=.*: must be a positive integer"):
        list(classifier.predict_stream(["i loved it"], chunk_size=size))


def test_runtime_threads_are_checked(classifier):
    with pytest.raises(ValueError, match=r"threads=0: must be a positive integer"):
        Classifier.load(classifier.path, threads=0)
