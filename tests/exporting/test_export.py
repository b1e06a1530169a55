"""Checkpoint -> bundle: weights-only loading, the export at the end of training, the CLI, atomic writes."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from bilstm_clf.exporting import bundle_writer
from bilstm_clf.exporting import onnx_export as export_module
from bilstm_clf.data.tokenizer import Tokenizer
from bilstm_clf.common.errors import DataError, UserError
from bilstm_clf.common.bundle import FILES as BUNDLE_FILES
from bilstm_clf.exporting.bundle_writer import export_bundle
from bilstm_clf.exporting.checkpoints import resolve_checkpoint, source_from_checkpoint
from bilstm_clf.serving.runtime import Classifier
from bilstm_clf.models import BiLSTMClassifier
from tests.conftest import NEGATIVE, POSITIVE, ROOT, run_cli
from tests.export_helpers import save_checkpoint, tiny_encoder

LABELS = ["neg", "pos"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A real (tiny) training run through the CLI, with its end-of-run export."""
    root = tmp_path_factory.mktemp("train")
    data = root / "data"
    data.mkdir()
    rows = "sentence\tlabel\n" + "".join(f"{p}\tpos\n{n}\tneg\n" for p, n in zip(POSITIVE * 4, NEGATIVE * 4))
    for split in ("train", "dev", "test"):
        (data / f"{split}.tsv").write_text(rows, encoding="utf-8")
    run_dir = root / "run"
    result = run_cli(
        ["-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={data}", "data.train_file=train.tsv", "data.val_file=dev.tsv",
         "data.test_file=test.tsv", "data.text_field=sentence", "trainer.max_epochs=2", "callbacks.progress_bar.refresh_rate=0",
         "model.embedding_dim=16", "model.hidden_size=16", f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "bundle:" in result.stdout
    return run_dir


def test_training_checkpoint_loads_weights_only_and_its_bundle_matches_it(trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    best = Path(metrics["best_checkpoint"])
    checkpoint = torch.load(best, map_location="cpu", weights_only=True)  # no pickled classes in it
    assert set(checkpoint["hyper_parameters"]) >= {"model_config", "label_names"}

    model = BiLSTMClassifier(**checkpoint["hyper_parameters"]["model_config"])
    model.load_state_dict({k[len("model."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")})
    model.eval()
    source = source_from_checkpoint(best)
    assert source.label_names == LABELS
    texts = [*POSITIVE, *NEGATIVE, "an unseen review"]
    ids = Tokenizer.from_json(source.tokenizer_json).encode_batch(texts)
    lengths = torch.tensor([len(r) for r in ids])
    batch = torch.nn.utils.rnn.pad_sequence([torch.tensor(r) for r in ids], batch_first=True)
    # the temperature fitted on dev after training (calibration=temperature) is part of the checkpoint
    temperature = checkpoint["bilstm_clf"]["calibration"]["temperature"]
    with torch.inference_mode():
        expected = torch.softmax(model(batch, lengths) / temperature, -1).numpy()
    got = Classifier.load(metrics["bundle_dir"]).predict_proba(texts)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_end_of_training_bundle_is_complete_and_carries_the_runs_metrics(trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    bundle = Path(metrics["bundle_dir"])
    assert bundle == trained_run / "bundle"
    assert sorted(p.name for p in bundle.iterdir()) == sorted(BUNDLE_FILES)
    for name in BUNDLE_FILES:
        head = (bundle / name).read_bytes()[:2]
        assert not head.startswith(b"\x80"), f"{name} looks like a pickle"
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["metrics"]["test/acc"] == metrics["test/acc"] and meta["metrics"]["best/val/f1_macro"] == metrics["best/val/f1_macro"]
    assert meta["training"]["data"]["name"] == "custom" and meta["training"]["data"]["text_field"] == "sentence"
    assert meta["model_config"]["embedding_dim"] == 16 and meta["model_config"]["encoder"] == "padded"
    assert meta["labels"] == LABELS == json.loads((bundle / "labels.json").read_text())
    assert {"torch", "onnxruntime", "tokenizers", "numpy", "python"} <= set(meta["versions"])
    assert meta["onnx"]["exporter"] == "direct" and meta["onnx"]["verified_max_abs_diff"] <= 1e-4
    assert meta["checkpoint"]["path"] == str(Path(metrics["best_checkpoint"]).resolve())
    assert meta["created"].endswith("+00:00")
    assert not [p for p in trained_run.iterdir() if p.name.startswith(".bundle")]  # no staging left behind


def test_export_cli_refuses_to_overwrite_then_force_replaces_whole(trained_run, tmp_path):
    bundle = trained_run / "bundle"
    before = {name: (bundle / name).read_bytes() for name in BUNDLE_FILES}
    result = run_cli(["-m", "bilstm_clf.export", str(trained_run)], cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {bundle}: already exists; pass --force to replace it"
    assert {name: (bundle / name).read_bytes() for name in BUNDLE_FILES} == before

    # --force (in-process: the same code path without a second torch start-up) replaces the
    # directory as a whole: a file only the old one had is gone
    (bundle / "old-only.txt").write_text("x")
    export_bundle(trained_run, force=True)
    after = json.loads((bundle / "metadata.json").read_text())
    assert after["checkpoint"]["sha256"] == json.loads(before["metadata.json"])["checkpoint"]["sha256"]
    assert sorted(p.name for p in bundle.iterdir()) == sorted(BUNDLE_FILES)
    assert not [p for p in trained_run.iterdir() if p.name.startswith(".bundle")]


def test_a_failed_export_leaves_the_existing_bundle_untouched(trained_run, tmp_path, monkeypatch):
    bundle = trained_run / "bundle"
    before = {name: (bundle / name).read_bytes() for name in BUNDLE_FILES}

    def broken_export(model, path, exporter="auto"):
        Path(path).write_bytes(b"half a model")
        raise UserError("ONNX export failed: simulated")

    monkeypatch.setattr(bundle_writer, "export_onnx", broken_export)
    with pytest.raises(UserError, match="simulated"):
        export_bundle(trained_run, force=True)
    assert {name: (bundle / name).read_bytes() for name in BUNDLE_FILES} == before
    with pytest.raises(UserError, match="simulated"):
        export_bundle(trained_run, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert not [p for p in (*trained_run.iterdir(), *tmp_path.iterdir()) if p.name.startswith((".bundle", ".new"))]


def test_auto_falls_back_to_the_next_exporter_and_reports_both_failures(tmp_path, monkeypatch, caplog):
    # max pooling: a model the direct graph does not cover, so auto starts with torchscript
    model = BiLSTMClassifier(vocab_size=20, num_classes=2, embedding_dim=8, hidden_size=8, pooling="max").eval()
    real_torchscript = export_module._export_torchscript

    def broken(*args):
        raise RuntimeError("simulated exporter bug")

    # the first exporter fails; the second (here the TorchScript one under the dynamo name) is used
    monkeypatch.setattr(export_module, "_export_torchscript", broken)
    monkeypatch.setattr(export_module, "_export_dynamo", real_torchscript)
    info = export_module.export_onnx(model, tmp_path / "model.onnx")
    assert info["exporter"] == "dynamo" and (tmp_path / "model.onnx").is_file()
    assert "torchscript exporter failed, trying the next: simulated exporter bug" in caplog.text

    # a graph that disagrees with torch counts as a failure too; with none left, one clear error
    def disagreeing(*args, **kwargs):
        raise RuntimeError("disagree by 0.5")

    monkeypatch.setattr(export_module, "verify_onnx", disagreeing)
    with pytest.raises(UserError) as err:
        export_module.export_onnx(model, tmp_path / "again.onnx")
    assert str(err.value) == "ONNX export failed: torchscript: simulated exporter bug; dynamo: disagree by 0.5"
    assert not (tmp_path / "again.onnx").exists()


def test_force_never_replaces_a_directory_that_is_not_a_bundle(trained_run, tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="exists and is not a bundle"):
        export_bundle(trained_run, target, force=True)
    assert (target / "notes.txt").read_text() == "mine"


def test_run_directories_resolve_to_their_best_checkpoint(tmp_path):
    encoder = tiny_encoder()
    run = tmp_path / "run"
    for name in ("epoch00.ckpt", "epoch01.ckpt"):
        save_checkpoint(run / "checkpoints" / name, encoder, LABELS)
    # training ran elsewhere: metrics.json records a path relative to that place
    (run / "metrics.json").write_text(json.dumps({"best_checkpoint": "logs/runs/x/2024/checkpoints/epoch01.ckpt"}))
    assert resolve_checkpoint(run) == run / "checkpoints" / "epoch01.ckpt"
    assert resolve_checkpoint(run / "checkpoints" / "epoch00.ckpt") == run / "checkpoints" / "epoch00.ckpt"

    # no metrics.json: Lightning's ModelCheckpoint state in last.ckpt names the best
    (run / "metrics.json").unlink()
    path, _ = save_checkpoint(run / "checkpoints" / "last.ckpt", encoder, LABELS)
    last = torch.load(path, weights_only=True)
    last["callbacks"] = {"ModelCheckpoint{'monitor': 'val/acc'}": {"best_model_path": "/elsewhere/checkpoints/epoch00.ckpt"}}
    torch.save(last, path)
    assert resolve_checkpoint(run) == run / "checkpoints" / "epoch00.ckpt"

    with pytest.raises(DataError, match="no checkpoints found"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(DataError, match="not found"):
        resolve_checkpoint(tmp_path / "missing")


class _Payload:
    """Unpickling this runs code; a weights-only load must refuse it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoints_that_would_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"model_config": _Payload(marker)}}, path)
    with pytest.raises(DataError, match="cannot load as a weights-only torch checkpoint"):
        source_from_checkpoint(path)
    assert not marker.exists()

    plain = tmp_path / "plain.ckpt"
    plain.write_bytes(pickle.dumps({"not": "torch"}, protocol=2))
    with pytest.raises(DataError) as err:
        source_from_checkpoint(plain)
    assert str(plain) in str(err.value) and "\n" not in str(err.value)


def test_export_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    result = run_cli(["-m", "bilstm_clf.export", str(tmp_path / "nope")], cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: not found; expected a checkpoint (.ckpt) or a run directory"


@pytest.mark.parametrize(
    ("export_cfg", "message"),
    [
        ({"enabled": True, "dir": "b", "exporter": "onnx"}, "config export.exporter='onnx': expected one of auto, direct, torchscript, dynamo"),
        ({"enabled": "yes", "dir": "b"}, "config export.enabled='yes': must be true or false"),
        ({"enabled": True, "dir": ""}, "config export.dir='': must be a directory path"),
        ({"enabled": True, "dir": "b", "quantize": "int4"}, "config export.quantize='int4': expected one of none, int8"),
    ],
)
def test_export_config_is_checked_before_training(export_cfg, message):
    from bilstm_clf.common.config_checks import check_export_config

    with pytest.raises(UserError) as err:
        check_export_config(export_cfg)
    assert str(err.value) == message
    check_export_config({"enabled": False, "dir": None})  # off: nothing else matters


def test_int8_bundle_is_quantised_smaller_and_close_to_the_exact_one(tmp_path):
    import onnx

    path, _ = save_checkpoint(tmp_path / "model.ckpt", tiny_encoder(), LABELS, embedding_dim=64, hidden_size=64)
    exact = export_bundle(path, tmp_path / "exact")
    int8 = export_bundle(path, tmp_path / "int8", quantize="int8")
    info = json.loads((int8 / "metadata.json").read_text())["onnx"]
    assert info["quantization"] == "int8-dynamic" and 0 < info["verified_max_abs_diff"] <= export_module.INT8_VERIFY_TOLERANCE
    assert json.loads((exact / "metadata.json").read_text())["onnx"]["quantization"] is None
    ops = {node.op_type for node in onnx.load(str(int8 / "model.onnx")).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    assert (int8 / "model.onnx").stat().st_size < 0.5 * (exact / "model.onnx").stat().st_size

    texts = [*POSITIVE, *NEGATIVE, "an unseen review", "great"]
    got, expected = Classifier.load(int8).predict_proba(texts), Classifier.load(exact).predict_proba(texts)
    assert 0 < np.abs(got - expected).max() < 0.1  # approximate, but close


def test_weights_that_do_not_fit_their_config_are_one_clear_error(tmp_path):
    path, _ = save_checkpoint(tmp_path / "model.ckpt", tiny_encoder(), LABELS)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["hyper_parameters"]["model_config"]["hidden_size"] = 24
    torch.save(checkpoint, path)
    with pytest.raises(DataError) as err:
        export_bundle(path, tmp_path / "bundle")
    assert str(err.value).startswith(f"{path.resolve()}: weights do not fit the model config: ")
    assert "\n" not in str(err.value) and not (tmp_path / "bundle").exists()
