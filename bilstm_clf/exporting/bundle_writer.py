"""Write a bundle: a checkpoint (or a run directory's best) in, a bundle directory out, built
beside the target and renamed into place whole. Also the end-of-training export."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bilstm_clf.common import bundle
from bilstm_clf.common.atomic import atomic_directory, write_failure
from bilstm_clf.common.errors import UserError
from bilstm_clf.exporting.checkpoints import (
    ExportSource,
    build_model,
    numeric_metrics,
    resolve_checkpoint,
    run_dir_of,
    run_metadata,
    source_from_checkpoint,
    training_metadata,
)
from bilstm_clf.exporting.onnx_export import QUANTIZATIONS, export_onnx, quantize_onnx

log = logging.getLogger("bilstm_clf.export")


def _check_target(target: Path, force: bool) -> None:
    if target.is_symlink() or target.is_file():
        raise UserError(f"{target}: exists and is not a directory; choose another --out")
    if target.exists():
        if not force:
            raise UserError(f"{target}: already exists; pass --force to replace it")
        if not bundle.is_bundle(target):
            raise UserError(f"{target}: exists and is not a bundle (no bundle metadata.json); refusing to replace it")


def write_bundle(
    source: ExportSource | list[ExportSource],
    target: str | Path,
    *,
    force: bool = False,
    exporter: str = "auto",
    quantize: str = "none",
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> Path:
    """Export ``source`` into the bundle directory ``target`` (built beside it, then renamed).
    Several sources make one ensemble graph (the mean of their probabilities).
    ``quantize="int8"``: smaller, faster and approximate (see ``quantize_onnx``)."""
    sources = source if isinstance(source, list) else [source]
    source = sources[0]
    target = Path(target)
    if quantize not in QUANTIZATIONS:
        raise UserError(f"quantize {quantize!r}: expected one of {', '.join(QUANTIZATIONS)}")
    _check_target(target, force)  # fail before the slow part
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # read-only or unwritable: one line naming the path
        raise write_failure(target, err) from None
    model = build_model(source) if len(sources) == 1 else ensemble_of(sources)
    # sigmoid outputs for multi-label models (passed only then: export_onnx's older signature stays valid)
    head = {"activation": "sigmoid"} if source.multi_label else {}
    # Built beside the target, renamed into place whole; --force swaps atomically (atomic.py).
    with atomic_directory(target, overwrite=force) as staging:
        onnx_info = export_onnx(model, staging / bundle.MODEL_FILE, exporter, **head)
        onnx_info["quantization"] = None
        onnx_info["ensemble_members"] = len(sources) if len(sources) > 1 else None
        if quantize == "int8":
            onnx_info.update(quantize_onnx(model, staging / bundle.MODEL_FILE, **head))
        (staging / bundle.TOKENIZER_FILE).write_text(source.tokenizer_json, encoding="utf-8")
        (staging / bundle.LABELS_FILE).write_text(json.dumps(source.label_names, indent=1) + "\n", encoding="utf-8")
        metadata = bundle.build_metadata(
            labels=source.label_names,
            model_config=source.model_config,
            onnx=onnx_info,
            checkpoint=source.checkpoint if len(sources) == 1 else {"ensemble": [s.checkpoint for s in sources]},
            training=training or {},
            metrics=metrics or {},
            decision=bundle.decision_metadata(source.multi_label, [s.calibration for s in sources]),
        )
        (staging / bundle.METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
    return target


def ensemble_of(sources: list[ExportSource]):
    """One model averaging the members' probabilities. They must share vocabulary and labels, as
    runs of one config on the same data do (the vocabulary depends on the data only, not the seed)."""
    from bilstm_clf.models.ensemble import ProbabilityAverage

    first = sources[0]
    for other in sources[1:]:
        where = other.checkpoint.get("path") or "checkpoint"
        if other.label_names != first.label_names:
            raise UserError(f"{where}: its labels {other.label_names} differ from the first member's {first.label_names}; an ensemble needs the same labels")
        if other.multi_label or first.multi_label:
            raise UserError(f"{where}: ensembles of multi-label models are not supported; export each run on its own")
        if other.tokenizer_json != first.tokenizer_json:
            raise UserError(f"{where}: its vocabulary or tokenizer differs from the first member's; an ensemble needs runs on the same training data")
    return ProbabilityAverage([build_model(s) for s in sources]).eval()


def export_ensemble(checkpoints: list[str | Path], out: str | Path, *, force: bool = False, exporter: str = "auto", quantize: str = "none") -> Path:
    """Several checkpoints (or run directories: their best) in, one ensemble bundle out."""
    paths = [resolve_checkpoint(c) for c in checkpoints]
    _check_target(Path(out), force)
    members = []
    for path in paths:
        metrics, _ = run_metadata(run_dir_of(path), path)
        members.append({"checkpoint": str(path), **metrics})
    _, training = run_metadata(run_dir_of(paths[0]), paths[0])
    return write_bundle([source_from_checkpoint(p) for p in paths], out, force=force, exporter=exporter, quantize=quantize,
                        metrics={"members": members}, training=training)


def export_bundle(checkpoint: str | Path, out: str | Path | None = None, *, force: bool = False, **options: Any) -> Path:
    """Checkpoint file or run directory in, bundle directory out (default: ``<run dir>/bundle``).
    ``options``: ``exporter``, ``quantize``, ``metrics`` and ``training`` of ``write_bundle``; the
    last two default to what the run directory holds."""
    checkpoint_path = resolve_checkpoint(checkpoint)
    run_dir = run_dir_of(checkpoint_path)
    if out is None:
        out = (run_dir / "bundle") if run_dir is not None else checkpoint_path.with_name(checkpoint_path.stem + "-bundle")
    _check_target(Path(out), force)
    found_metrics, found_training = run_metadata(run_dir, checkpoint_path)
    source = source_from_checkpoint(checkpoint_path)
    if options.get("metrics") is None:
        options["metrics"] = found_metrics
    if options.get("training") is None:
        options["training"] = found_training
    return write_bundle(source, out, force=force, **options)


def export_after_training(cfg, best_checkpoint: str, module, metrics: dict[str, Any]) -> dict[str, Any]:
    """train.py's end-of-run export (``export.enabled``). Returns keys for metrics.json. A failure
    is logged, never raised: the run and its checkpoints are already complete."""
    export_cfg = cfg.get("export") or {}
    if not export_cfg.get("enabled", False):
        return {}
    target = Path(export_cfg.get("dir") or Path(cfg.paths.output_dir) / "bundle")
    training = {"run_dir": str(Path(cfg.paths.output_dir).resolve()), **training_metadata(cfg)}
    try:
        if best_checkpoint:
            source = source_from_checkpoint(best_checkpoint)
        else:  # no ModelCheckpoint callback: the weights in memory are what was tested
            source = ExportSource(
                state_dict=module.eval_model.state_dict(),
                model_config=dict(module.hparams.model_config),
                label_names=list(module.label_names),
                tokenizer_json=module.tokenizer_json,
                multi_label=_module_thresholds(module),
                calibration=getattr(module, "calibration", None),
                checkpoint={"path": None, "note": "exported from memory at the end of training"},
            )
        write_bundle(source, target, force=bool(export_cfg.get("force", False)), exporter=export_cfg.get("exporter", "auto"),
                     quantize=str(export_cfg.get("quantize") or "none"), metrics=numeric_metrics(metrics), training=training)
    except ImportError as err:
        log.warning("bundle export skipped: %s (pip install 'bilstm-clf[train]')", err)
        return {"bundle_dir": None, "bundle_error": f"missing dependency: {err} (pip install 'bilstm-clf[train]', or set export.enabled=false)"}
    except Exception as err:  # noqa: BLE001
        log.error("bundle export failed: %s", err)
        return {"bundle_dir": None, "bundle_error": str(err)}
    log.info("bundle written to %s", target)
    return {"bundle_dir": str(target)}


def _module_thresholds(module) -> dict[str, Any] | None:
    if not getattr(module, "multi_label", False):
        return None
    return {"thresholds": [float(t) for t in module.thresholds.cpu()], "threshold_mode": module.threshold_mode}
