"""Reading what training wrote: the checkpoint payload ``lit_module`` saves (weights, model
config, tokenizer JSON, labels), the best checkpoint of a run directory, and the run's metrics
and config. ``torch.load(weights_only=True)`` only: never an arbitrary pickle."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bilstm_clf.common import bundle
from bilstm_clf.common.checkpoint_file import load_checkpoint_dict
from bilstm_clf.common.errors import DataError
from bilstm_clf.common.file_checks import regular_file
from bilstm_clf.exporting.source_checks import check_source

@dataclass
class ExportSource:
    """What a bundle is made of, read from a checkpoint (or a model in memory)."""

    state_dict: dict[str, Any]  # BiLSTMClassifier keys (no ``model.`` prefix)
    model_config: dict[str, Any]
    label_names: list[str]
    tokenizer_json: str
    checkpoint: dict[str, Any] = field(default_factory=dict)  # provenance for metadata.json
    # multi-label models: {"thresholds": [...], "threshold_mode": ...} (training/multi_label_module.py)
    multi_label: dict[str, Any] | None = None
    # temperature scaling: {"method": "temperature", "temperature": T, ...} (training/calibrate_run.py)
    calibration: dict[str, Any] | None = None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the best checkpoint of a run directory (or of its checkpoints/)."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise DataError(path, "not found; expected a checkpoint (.ckpt) or a run directory")
    if not path.is_dir():
        regular_file(path)  # a FIFO or a device: refused by type
    run_dir = path.parent if path.name == "checkpoints" and not (path / "metrics.json").exists() else path
    ckpt_dir = run_dir / "checkpoints"
    candidates = sorted(p for p in ckpt_dir.glob("*.ckpt")) if ckpt_dir.is_dir() else []

    def local(recorded: str | None) -> Path | None:
        # Runs record paths relative to where training ran; the file name inside checkpoints/ is enough.
        if not recorded:
            return None
        for option in (Path(recorded), ckpt_dir / Path(recorded).name):
            if option.is_file():
                return option
        return None

    metrics_file = run_dir / "metrics.json"
    if metrics_file.is_file():
        try:
            best = local(json.loads(metrics_file.read_text(encoding="utf-8")).get("best_checkpoint"))
        except (json.JSONDecodeError, AttributeError):
            best = None
        if best is not None:
            return best
    if (ckpt_dir / "last.ckpt").is_file():
        # Lightning's ModelCheckpoint state in last.ckpt names the best checkpoint.
        best = local(_best_model_path(load_checkpoint_dict(ckpt_dir / "last.ckpt")))
        if best is not None:
            return best
    named = [p for p in candidates if p.name != "last.ckpt"]
    if len(named) == 1:
        return named[0]
    if not candidates:
        raise DataError(run_dir, "no checkpoints found (expected checkpoints/*.ckpt in a run directory)")
    raise DataError(run_dir, f"cannot tell the best checkpoint among {', '.join(p.name for p in candidates)}; name one")


def _best_model_path(checkpoint: dict[str, Any]) -> str | None:
    # Lightning keys callback states by class name and settings: "ModelCheckpoint{...}", or our
    # subclass "TopKCheckpoint{...}"; any checkpoint callback's state that names a best model will do.
    for state in (checkpoint.get("callbacks") or {}).values():
        if isinstance(state, dict) and isinstance(state.get("best_model_path"), str) and state["best_model_path"]:
            return state["best_model_path"]
    return None


def source_from_checkpoint(path: str | Path) -> ExportSource:
    from bilstm_clf.training.lit_module import CHECKPOINT_KEY

    path = Path(path)
    checkpoint = load_checkpoint_dict(path)
    hparams = checkpoint.get("hyper_parameters") or {}
    extra = checkpoint.get(CHECKPOINT_KEY) or {}
    if not isinstance(hparams, dict) or not isinstance(extra, dict):
        raise DataError(path, f"not a bilstm_clf checkpoint (hyper_parameters or {CHECKPOINT_KEY} is not a dict)")
    model_config = hparams.get("model_config")
    state = checkpoint.get("state_dict")
    if not isinstance(model_config, dict) or not isinstance(state, dict):
        raise DataError(path, "not a bilstm_clf checkpoint (no hyper_parameters.model_config or state_dict)")
    tokenizer_json = extra.get("tokenizer_json")
    if not tokenizer_json or not isinstance(tokenizer_json, str):
        raise DataError(path, "the checkpoint carries no tokenizer (written by an older bilstm_clf?)")
    label_names = extra.get("label_names") or hparams.get("label_names") or []
    if not isinstance(label_names, (list, tuple)) or not label_names:
        raise DataError(path, "the checkpoint carries no label names")
    return ExportSource(
        state_dict=model_weights(state),
        model_config=dict(model_config),
        label_names=list(label_names),  # source_checks.check_source: distinct strings, one per output
        tokenizer_json=tokenizer_json,
        multi_label=extra.get("multi_label"),
        calibration=extra.get("calibration"),
        checkpoint={
            "path": str(path.resolve()),
            "sha256": bundle.sha256(path),
            "epoch": checkpoint.get("epoch"),
            "global_step": checkpoint.get("global_step"),
            "pytorch_lightning_version": checkpoint.get("pytorch-lightning_version"),
        },
    )


def model_weights(state: dict[str, Any]) -> dict[str, Any]:
    """The classifier's weights from a LightningModule state dict: the EMA copy when training
    kept one (``ema_decay``; it is what was validated and tested), else the trained weights."""
    for prefix in ("ema.module.", "model."):
        weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if weights:
            return weights
    return {}


def build_model(source: ExportSource):
    """The checkpoint's model with the exact padded encoder, in eval mode."""
    from bilstm_clf.models import BiLSTMClassifier

    where = source.checkpoint.get("path") or "checkpoint"
    try:
        model = BiLSTMClassifier(**{**source.model_config, "encoder": "padded"})
    except (TypeError, ValueError) as err:  # a key this version's model does not take, or a value it refuses
        raise DataError(where, f"model config does not fit this bilstm_clf: {err}") from None
    try:
        model.load_state_dict(source.state_dict, strict=True)
    except RuntimeError as err:
        raise DataError(where, f"weights do not fit the model config: {str(err).splitlines()[0]}") from None
    check_source(source, model)
    temperature = (source.calibration or {}).get("temperature")
    if temperature is not None and float(temperature) != 1.0:
        from bilstm_clf.models.calibrated import TemperatureScaled

        return TemperatureScaled(model, float(temperature)).eval()
    return model.eval()


def run_dir_of(checkpoint: Path) -> Path | None:
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    return run_dir if (run_dir / ".hydra").is_dir() or (run_dir / "metrics.json").is_file() else None


def numeric_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = {k: v for k, v in metrics.items() if "/" in k and isinstance(v, (int, float)) and not isinstance(v, bool)}
    for key in ("epochs_trained", "dataset", "train_seconds"):
        if key in metrics:
            keep[key] = metrics[key]
    return keep


def run_metadata(run_dir: Path | None, checkpoint: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, training) from a run directory's metrics.json and .hydra/config.yaml, if present.
    Metrics are attached only when they belong to the exported checkpoint."""
    if run_dir is None:
        return {}, {}
    metrics: dict[str, Any] = {}
    try:
        recorded = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        if Path(str(recorded.get("best_checkpoint", ""))).name == checkpoint.name:
            metrics = numeric_metrics(recorded)
    except (OSError, ValueError, AttributeError):
        pass
    training: dict[str, Any] = {"run_dir": str(run_dir.resolve())}
    config_file = run_dir / ".hydra" / "config.yaml"
    if config_file.is_file():
        from omegaconf import OmegaConf

        training.update(training_metadata(OmegaConf.load(config_file)))
    return metrics, training


def training_metadata(cfg) -> dict[str, Any]:
    """What a bundle records of the run's config (``bundle.TRAINING_KEYS``), as plain values."""
    from omegaconf import OmegaConf

    training: dict[str, Any] = {}
    for key in bundle.TRAINING_KEYS:
        if key not in cfg:
            continue
        value = cfg[key]
        if not OmegaConf.is_config(value):
            training[key] = value
            continue
        try:
            training[key] = OmegaConf.to_container(value, resolve=True)
        except Exception:  # noqa: BLE001 - Hydra-only resolvers (${hydra:...}): keep the raw values
            training[key] = OmegaConf.to_container(value, resolve=False)
    return training
