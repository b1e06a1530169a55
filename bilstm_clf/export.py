"""Export a trained checkpoint to a self-contained bundle: ``python -m bilstm_clf.export RUN_DIR|CKPT``.

A bundle is a directory with ``model.onnx`` (inputs ``input_ids`` [batch, length] int64 and
``lengths`` [batch] int64, right-padded with id 0; outputs ``logits`` and ``probabilities``
[batch, classes] float32), ``tokenizer.json``, ``labels.json`` and ``metadata.json``. Nothing
in it is a pickle; ``bilstm_clf.inference`` runs it without torch.

The model is exported with the exact padded encoder (plain LSTM ops; packed-encoder weights load
into it unchanged), checked against torch with onnxruntime on varied batch sizes and lengths,
and written to a temporary directory beside the target that is renamed into place at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import inspect
import json
import logging
import platform
import warnings
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from bilstm_clf.atomic import atomic_directory
from bilstm_clf.errors import DataError, UserError, exit_on_user_error

log = logging.getLogger("bilstm_clf.export")

BUNDLE_FORMAT = "bilstm_clf.bundle"
BUNDLE_FORMAT_VERSION = 1
BUNDLE_FILES = ("model.onnx", "tokenizer.json", "labels.json", "metadata.json")
INPUT_NAMES = ("input_ids", "lengths")
OUTPUT_NAMES = ("logits", "probabilities")
EXPORTERS = ("auto", "dynamo", "torchscript")
DEFAULT_MAX_CHARS = 100_000  # the runtime cuts longer texts before tokenising
VERIFY_TOLERANCE = 1e-4  # max |probability difference| between torch and onnxruntime at export
QUANTIZATIONS = ("none", "int8")
# An int8 bundle is approximate by design (a trained SST-2 model: up to 0.04 in probability, 7 of
# 1,821 test labels changed; docs/benchmarks.md). This bound only catches a broken graph.
INT8_VERIFY_TOLERANCE = 0.25


@dataclass
class ExportSource:
    """What a bundle is made of, read from a checkpoint (or a model in memory)."""

    state_dict: dict[str, Any]  # BiLSTMClassifier keys (no ``model.`` prefix)
    model_config: dict[str, Any]
    label_names: list[str]
    tokenizer_json: str
    checkpoint: dict[str, Any] = field(default_factory=dict)  # provenance for metadata.json


# --- reading checkpoints ----------------------------------------------------------------------
def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the best checkpoint of a run directory (or of its checkpoints/)."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise DataError(path, "not found; expected a checkpoint (.ckpt) or a run directory")
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
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if str(key).startswith("ModelCheckpoint") and isinstance(state, dict) and state.get("best_model_path"):
            return state["best_model_path"]
    return None


def load_checkpoint_dict(path: str | Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary pickles."""
    import pickle

    import torch

    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(path, f"cannot load as a weights-only torch checkpoint: {first}") from None
    if not isinstance(checkpoint, dict):
        raise DataError(path, f"not a training checkpoint (holds a {type(checkpoint).__name__}, expected a dict)")
    return checkpoint


def source_from_checkpoint(path: str | Path) -> ExportSource:
    from bilstm_clf.lit_module import CHECKPOINT_KEY

    path = Path(path)
    checkpoint = load_checkpoint_dict(path)
    hparams = checkpoint.get("hyper_parameters") or {}
    extra = checkpoint.get(CHECKPOINT_KEY) or {}
    model_config = hparams.get("model_config")
    state = checkpoint.get("state_dict")
    if not isinstance(model_config, dict) or not isinstance(state, dict):
        raise DataError(path, "not a bilstm_clf checkpoint (no hyper_parameters.model_config or state_dict)")
    tokenizer_json = extra.get("tokenizer_json")
    if not tokenizer_json:
        raise DataError(path, "the checkpoint carries no tokenizer (written by an older bilstm_clf?)")
    label_names = list(extra.get("label_names") or hparams.get("label_names") or [])
    if not label_names:
        raise DataError(path, "the checkpoint carries no label names")
    return ExportSource(
        state_dict={k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")},
        model_config=dict(model_config),
        label_names=[str(x) for x in label_names],
        tokenizer_json=tokenizer_json,
        checkpoint={
            "path": str(path.resolve()),
            "sha256": _sha256(path),
            "epoch": checkpoint.get("epoch"),
            "global_step": checkpoint.get("global_step"),
            "pytorch_lightning_version": checkpoint.get("pytorch-lightning_version"),
        },
    )


def build_model(source: ExportSource):
    """The checkpoint's model with the exact padded encoder, in eval mode."""
    from bilstm_clf.models import BiLSTMClassifier

    where = source.checkpoint.get("path") or "checkpoint"
    try:
        model = BiLSTMClassifier(**{**source.model_config, "encoder": "padded"})
    except TypeError as err:  # a key this version's model does not take
        raise DataError(where, f"model config does not fit this bilstm_clf: {err}") from None
    try:
        model.load_state_dict(source.state_dict, strict=True)
    except RuntimeError as err:
        raise DataError(where, f"weights do not fit the model config: {str(err).splitlines()[0]}") from None
    return model.eval()


# --- ONNX -------------------------------------------------------------------------------------
def _probability_model(model):
    import torch

    class WithProbabilities(torch.nn.Module):
        def __init__(self, classifier):
            super().__init__()
            self.classifier = classifier

        def forward(self, input_ids, lengths):
            logits = self.classifier(input_ids, lengths)
            return logits, torch.softmax(logits, dim=-1)

    return WithProbabilities(model).eval()


def _example_inputs(vocab_size: int):
    import torch

    # Batch 3 and length 7: neither is 0/1, so the exporters keep both dimensions symbolic.
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(2, max(vocab_size, 3), (3, 7), generator=generator)
    lengths = torch.tensor([7, 4, 2])
    ids[torch.arange(7)[None, :] >= lengths[:, None]] = 0
    return ids, lengths


def _clear_lstm_dispatch_cache() -> None:
    # torch 2.13's dynamo exporter swaps in a while-loop LSTM decomposition for dynamic lengths,
    # but the op's Python dispatch cache keeps the kernel picked by an earlier export in the same
    # process, which then fixes the length dimension. Clearing the cache makes every export alike.
    import torch

    cache = getattr(torch.ops.aten.lstm.input, "_dispatch_cache", None)
    if isinstance(cache, dict):
        cache.clear()


def _export_dynamo(model, path: Path, example) -> int:
    import torch

    signature = inspect.signature(torch.onnx.export).parameters
    if "dynamo" not in signature or "dynamic_shapes" not in signature:
        raise RuntimeError(f"torch {torch.__version__} has no dynamo ONNX exporter")
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    options = dict(
        input_names=list(INPUT_NAMES),
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes={"input_ids": {0: batch, 1: length}, "lengths": {0: batch}},
        dynamo=True,
        opset_version=18,
        external_data=False,  # one self-contained file (models here are far below 2 GB)
        optimize=True,
        verbose=False,
    )
    _clear_lstm_dispatch_cache()
    try:
        torch.onnx.export(model, example, str(path), **{k: v for k, v in options.items() if k in signature})
    finally:
        _clear_lstm_dispatch_cache()
    return options["opset_version"]


def _export_torchscript(model, path: Path, example) -> int:
    import torch

    opset = 17
    torch.onnx.export(
        model,
        example,
        str(path),
        input_names=list(INPUT_NAMES),
        output_names=list(OUTPUT_NAMES),
        dynamic_axes={"input_ids": {0: "batch", 1: "length"}, "lengths": {0: "batch"}, "logits": {0: "batch"}, "probabilities": {0: "batch"}},
        opset_version=opset,
        **({"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}),
    )
    return opset


def verify_onnx(model, onnx_path: Path, vocab_size: int, tolerance: float = VERIFY_TOLERANCE) -> float:
    """Run the ONNX file with onnxruntime on varied batch sizes and lengths (including 1 and
    lengths shorter than the batch's width) and return the largest probability difference."""
    import numpy as np
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # tiny batches; spinning worker threads only slow a busy machine
    options.log_severity_level = 4  # a failing graph is reported once, by the exception below
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(1)
    worst = 0.0
    for batch, width in ((1, 1), (1, 9), (2, 1), (5, 13), (8, 40)):
        lengths = torch.randint(1, width + 1, (batch,), generator=generator)
        lengths[0] = width
        ids = torch.randint(2, max(vocab_size, 3), (batch, width), generator=generator)
        ids[torch.arange(width)[None, :] >= lengths[:, None]] = 0
        with torch.inference_mode():
            expected = model(ids, lengths)[1].numpy()
        got = session.run(["probabilities"], {"input_ids": ids.numpy(), "lengths": lengths.numpy()})[0]
        worst = max(worst, float(np.abs(expected - got).max()))
    if not worst <= tolerance:
        raise RuntimeError(f"onnxruntime and torch disagree by {worst:.3g} (tolerance {tolerance:g})")
    return worst


def export_onnx(model, path: str | Path, exporter: str = "auto") -> dict[str, Any]:
    """Write ``model`` (a BiLSTMClassifier) as ONNX and check it; returns what metadata records.

    ``auto`` uses the TorchScript exporter and falls back to the dynamo exporter where that one
    is missing, fails, or gives a graph that fails the check. Both give graphs of the same speed
    in onnxruntime, but on torch 2.13 (onnxscript 0.7) the dynamo exporter takes 5-13 s per
    export against 0.3 s, and for bidirectional models whose pooling reads every step (mean, max,
    attention) it leaves the sequence length fixed at the example's inside the graph; the check
    below catches that. ``dynamo`` forces it; it is the one torch develops further.
    """
    if exporter not in EXPORTERS:
        raise UserError(f"exporter {exporter!r}: expected one of {', '.join(EXPORTERS)}")
    path = Path(path)
    wrapped = _probability_model(model)
    vocab_size = model.embedding.num_embeddings
    example = _example_inputs(vocab_size)
    attempts = {"dynamo": _export_dynamo, "torchscript": _export_torchscript}
    order = ["torchscript", "dynamo"] if exporter == "auto" else [exporter]
    failures = []
    for name in order:
        try:
            with warnings.catch_warnings(), _quiet_loggers("torch.onnx", "torch._dynamo", "torch.export", "onnxscript", "onnx_ir"):
                warnings.simplefilter("ignore")
                opset = attempts[name](wrapped, path, example)
            max_diff = verify_onnx(wrapped, path, vocab_size)
        except Exception as err:  # noqa: BLE001 - any exporter failure means: try the next one
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            failures.append(f"{name}: {first}")
            if name != order[-1]:
                log.warning("ONNX export with the %s exporter failed, trying the next: %s", name, first)
            path.unlink(missing_ok=True)
            continue
        return {
            "file": path.name,
            "exporter": name,
            "opset": opset,
            "inputs": {"input_ids": ["batch", "length"], "lengths": ["batch"]},
            "outputs": {"logits": ["batch", "classes"], "probabilities": ["batch", "classes"]},
            "padding_id": 0,
            "verified_max_abs_diff": max_diff,
            "sha256": _sha256(path),
        }
    raise UserError("ONNX export failed: " + "; ".join(failures))


def quantize_onnx(model, path: Path) -> dict[str, Any]:
    """Rewrite ``path`` in place with int8 weights (onnxruntime dynamic quantisation: LSTM,
    MatMul/Gemm and the embedding Gather; activations are quantised per call). At batch 1 on one
    CPU thread it runs about 2x faster than the float bundle and is 4x smaller, at the price of
    exactness; returns what metadata records."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    wrapped = _probability_model(model)
    float_path = path.with_name(path.stem + ".float.onnx")
    path.rename(float_path)
    try:
        with _quiet_loggers("root", "onnxruntime"):  # a "consider pre-processing" hint per call
            quantize_dynamic(str(float_path), str(path), weight_type=QuantType.QInt8)
    finally:
        float_path.unlink(missing_ok=True)
    max_diff = verify_onnx(wrapped, path, model.embedding.num_embeddings, tolerance=INT8_VERIFY_TOLERANCE)
    return {"quantization": "int8-dynamic", "verified_max_abs_diff": max_diff, "sha256": _sha256(path)}


class _quiet_loggers:
    """Silence chatty exporter loggers (torchvision notices, dynamo hints) during an export."""

    def __init__(self, *names: str):
        self.loggers = [logging.getLogger(n) for n in names]
        self.levels: list[int] = []

    def __enter__(self):
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        for lg, level in zip(self.loggers, self.levels):
            lg.setLevel(level)


# --- the bundle -------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("bilstm-clf", "torch", "pytorch-lightning", "onnx", "onnxscript", "onnxruntime", "tokenizers", "numpy"):
        try:
            versions[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def is_bundle(path: Path) -> bool:
    try:
        meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == BUNDLE_FORMAT


def _check_target(target: Path, force: bool) -> None:
    if target.is_symlink() or target.is_file():
        raise UserError(f"{target}: exists and is not a directory; choose another --out")
    if target.exists():
        if not force:
            raise UserError(f"{target}: already exists; pass --force to replace it")
        if not is_bundle(target):
            raise UserError(f"{target}: exists and is not a bundle (no bundle metadata.json); refusing to replace it")


def write_bundle(
    source: ExportSource,
    target: str | Path,
    *,
    force: bool = False,
    exporter: str = "auto",
    quantize: str = "none",
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> Path:
    """Export ``source`` into the bundle directory ``target`` (built beside it, then renamed).
    ``quantize="int8"``: smaller, faster and approximate (see ``quantize_onnx``)."""
    target = Path(target)
    if quantize not in QUANTIZATIONS:
        raise UserError(f"quantize {quantize!r}: expected one of {', '.join(QUANTIZATIONS)}")
    _check_target(target, force)  # fail before the slow part
    target.parent.mkdir(parents=True, exist_ok=True)
    model = build_model(source)
    # Built beside the target, renamed into place whole; --force swaps atomically (atomic.py).
    with atomic_directory(target, overwrite=force) as staging:
        onnx_info = export_onnx(model, staging / "model.onnx", exporter)
        onnx_info["quantization"] = None
        if quantize == "int8":
            onnx_info.update(quantize_onnx(model, staging / "model.onnx"))
        (staging / "tokenizer.json").write_text(source.tokenizer_json, encoding="utf-8")
        (staging / "labels.json").write_text(json.dumps(source.label_names, indent=1) + "\n", encoding="utf-8")
        data = (training or {}).get("data") or {}
        metadata = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_FORMAT_VERSION,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "labels": source.label_names,
            "model_config": {**source.model_config, "encoder": "padded"},
            "trained_with_encoder": source.model_config.get("encoder"),
            "onnx": onnx_info,
            "inference": {"max_chars": data.get("max_chars") or DEFAULT_MAX_CHARS, "text_field": data.get("text_field")},
            "checkpoint": source.checkpoint,
            "training": training or {},
            "metrics": metrics or {},
            "versions": library_versions(),
        }
        (staging / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
    return target


# --- what a run directory knows: metrics and training data --------------------------------------
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

        cfg = OmegaConf.load(config_file)
        for key in ("data", "seed", "optimizer", "trainer"):
            if key not in cfg:
                continue
            value = cfg[key]
            if not OmegaConf.is_config(value):
                training[key] = value
                continue
            try:
                training[key] = OmegaConf.to_container(value, resolve=True)
            except Exception:  # noqa: BLE001 - Hydra-only resolvers: keep the raw values
                training[key] = OmegaConf.to_container(value, resolve=False)
    return metrics, training


def export_bundle(
    checkpoint: str | Path,
    out: str | Path | None = None,
    *,
    force: bool = False,
    exporter: str = "auto",
    quantize: str = "none",
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> Path:
    """Checkpoint file or run directory in, bundle directory out (default: ``<run dir>/bundle``)."""
    checkpoint_path = resolve_checkpoint(checkpoint)
    run_dir = run_dir_of(checkpoint_path)
    if out is None:
        out = (run_dir / "bundle") if run_dir is not None else checkpoint_path.with_name(checkpoint_path.stem + "-bundle")
    _check_target(Path(out), force)
    found_metrics, found_training = run_metadata(run_dir, checkpoint_path)
    source = source_from_checkpoint(checkpoint_path)
    return write_bundle(
        source,
        out,
        force=force,
        exporter=exporter,
        quantize=quantize,
        metrics=metrics if metrics is not None else found_metrics,
        training=training if training is not None else found_training,
    )


def export_after_training(cfg, best_checkpoint: str, module, metrics: dict[str, Any]) -> dict[str, Any]:
    """train.py's end-of-run export (``export.enabled``). Returns keys for metrics.json. A failure
    is logged, never raised: the run and its checkpoints are already complete."""
    from omegaconf import OmegaConf

    export_cfg = cfg.get("export") or {}
    if not export_cfg.get("enabled", False):
        return {}
    target = Path(export_cfg.get("dir") or Path(cfg.paths.output_dir) / "bundle")
    training = {
        "run_dir": str(Path(cfg.paths.output_dir).resolve()),
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "seed": cfg.get("seed"),
    }
    try:
        if best_checkpoint:
            source = source_from_checkpoint(best_checkpoint)
        else:  # no ModelCheckpoint callback: the weights in memory are what was tested
            source = ExportSource(
                state_dict=module.model.state_dict(),
                model_config=dict(module.hparams.model_config),
                label_names=list(module.label_names),
                tokenizer_json=module.tokenizer_json,
                checkpoint={"path": None, "note": "exported from memory at the end of training"},
            )
        write_bundle(source, target, force=bool(export_cfg.get("force", False)), exporter=export_cfg.get("exporter", "auto"),
                     quantize=str(export_cfg.get("quantize") or "none"), metrics=numeric_metrics(metrics), training=training)
    except ImportError as err:
        log.warning("bundle export skipped: %s (pip install 'bilstm-clf[export]')", err)
        return {"bundle_dir": None, "bundle_error": f"missing dependency: {err}"}
    except Exception as err:  # noqa: BLE001
        log.error("bundle export failed: %s", err)
        return {"bundle_dir": None, "bundle_error": str(err)}
    log.info("bundle written to %s", target)
    return {"bundle_dir": str(target)}


# --- CLI --------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bilstm_clf.export",
        description="Export a checkpoint (the best of a run when given a run directory) to an ONNX bundle.",
    )
    parser.add_argument("checkpoint", help="a .ckpt file, or a run directory (its best checkpoint is used)")
    parser.add_argument("--out", "-o", help="bundle directory to write (default: <run dir>/bundle)")
    parser.add_argument("--force", action="store_true", help="replace an existing bundle (atomically)")
    parser.add_argument("--exporter", choices=EXPORTERS, default="auto", help="torch ONNX exporter (default auto: torchscript, falling back to dynamo)")
    parser.add_argument(
        "--quantize", choices=QUANTIZATIONS, default="none",
        help="int8: weights in int8, ~2x faster at batch 1 and 4x smaller, probabilities approximate (default none: exact)",
    )
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    bundle = export_bundle(args.checkpoint, args.out, force=args.force, exporter=args.exporter, quantize=args.quantize)
    onnx_info = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))["onnx"]
    kind = f", {onnx_info['quantization']}" if onnx_info.get("quantization") else ""
    print(f"bundle: {bundle} ({onnx_info['exporter']} exporter{kind}, checked against torch: max diff {onnx_info['verified_max_abs_diff']:.1e})")


if __name__ == "__main__":
    main()
