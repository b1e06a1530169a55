"""Checks of config values: each failure is a ``ConfigError`` naming the key, the value and what is valid.

Torch-free at import: values are checked before anything heavy runs, so a typo answers in a second
(``probe_optimizer`` imports torch when it is called).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bilstm_clf.common.errors import ConfigError, UserError

# Metrics that can pick the best checkpoint. The callbacks and the plateau scheduler use mode=max,
# so a loss here would silently keep the worst checkpoint: it is refused instead.
MONITORS = ("val/acc", "val/f1_macro")
MULTI_LABEL_MONITORS = ("val/f1_macro", "val/f1_micro", "val/subset_acc")  # data.multi_label=true
CALIBRATIONS = ("temperature", "none")
# the weights validated, tested and exported after training (bilstm_clf.training.checkpoint_average)
FINAL_WEIGHTS = ("average", "average_top_k", "best")
SCHEDULER_INTERVALS = ("epoch", "step")
# class_weights rules: the power of n / (C · count_c) each class's loss is weighted by
CLASS_WEIGHT_RULES = {"balanced": 1.0, "sqrt_balanced": 0.5}
# the default: sqrt_balanced on single-label data (dev scores: docs/accuracy.md), none on multi-label
AUTO_CLASS_WEIGHTS = "sqrt_balanced"
# set from the data, never from the config: the vocabulary, the classes and the padding id
DATA_DECIDED = ("vocab_size", "num_classes", "padding_idx")


def model_keys() -> tuple[str, ...]:
    """What configs/model may set: BiLSTMClassifier's arguments, less those the data decides."""
    import inspect

    from bilstm_clf.models import BiLSTMClassifier

    return tuple(p for p in inspect.signature(BiLSTMClassifier).parameters if p not in DATA_DECIDED)


def export_keys() -> tuple[str, ...]:
    """What configs/export may set: the keys its default.yaml defines (export_after_training reads them)."""
    from bilstm_clf.configs import CONFIG_DIR

    text = (Path(CONFIG_DIR) / "export" / "default.yaml").read_text(encoding="utf-8")
    return tuple(re.findall(r"^([A-Za-z_]\w*):", text, re.M))  # its top-level keys (no YAML parser: torch-free and omegaconf-free)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(key: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not is_int(value) or value < 1:
        raise ConfigError(key, value, "must be a positive integer" + (" or null" if optional else ""))


def non_negative_int(key: str, value: Any) -> None:
    if not is_int(value) or value < 0:
        raise ConfigError(key, value, "must be an integer >= 0")


def integer(key: str, value: Any) -> None:
    if not is_int(value):
        raise ConfigError(key, value, "must be an integer")


def boolean(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "must be true or false")


def fraction(key: str, value: Any, *, low_open: bool = True, high_open: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        low, high = "(" if low_open else "[", ")" if high_open else "]"
        raise ConfigError(key, value, f"must be a number in {low}0, 1{high}")


def probability(key: str, value: Any) -> None:
    """A dropout rate: [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(key, value, "must be a probability in [0, 1)")


def choice(key: str, value: Any, choices: Sequence[Any], *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if value not in choices:
        raise ConfigError(key, value, f"expected one of {', '.join(map(str, choices))}" + (" or null" if optional else ""))


def text_encoding(key: str, value: Any) -> None:
    try:
        ok = isinstance(value, str) and bool("x".encode(value))  # LookupError for base64, rot13 ...
    except LookupError:
        ok = False
    if not ok:
        raise ConfigError(key, value, "unknown text encoding; for example utf-8, latin-1, cp1252, utf-16")


def column(key: str, value: Any) -> None:
    if not (isinstance(value, str) and value) and not (is_int(value) and value >= 0):
        raise ConfigError(key, value, "must be a column name (or JSONL key) or a 0-based column index")


def label_names(key: str, value: Any) -> None:
    """null, or a mapping from the files' labels to display names, the names distinct."""
    if value is None:
        return
    try:
        items = list(value.items())
    except AttributeError:
        raise ConfigError(key, value, "must map the files' labels to names, e.g. {0: negative, 1: positive}, or be null") from None
    names = [v for _, v in items]
    if not all(isinstance(v, str) and v.strip() for v in names) or len(set(names)) != len(names):
        raise ConfigError(key, dict(items), "names must be distinct non-empty strings")


def filename(key: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, value, "must be a file name" + (" or null" if optional else ""))


def finite_numbers(node: Any, prefix: str = "") -> None:
    """No config value may be NaN or infinite (``optimizer.lr=inf``, ``model.forget_bias=nan``,
    ``class_weights=[1,inf]``): each would make every weight NaN, and a NaN run looks finished."""
    if isinstance(node, dict):
        for key, value in node.items():
            finite_numbers(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            finite_numbers(value, f"{prefix}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(prefix, node, "must be a finite number")


def known_keys(group: str, node: Any, allowed: Sequence[str], *, did_you_mean: bool = True) -> None:
    """Keys added with ``+group.key=...`` that nothing reads would be silently ignored, or reach a
    constructor as an unexpected argument: refused, naming the valid ones."""
    for key in node or {}:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1) if did_you_mean else []
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{group}.{key}", node.get(key), f"no such setting; {hint}settings in {group}: {', '.join(allowed)}")


def check_run_config(cfg: Any) -> None:
    """Top-level values of ``configs/train.yaml`` that nothing else checks before training starts.
    (train.py runs ``finite_numbers`` over the whole config first.)"""
    seed = cfg.get("seed")
    if not is_int(seed) or not 0 <= seed < 2**32:  # numpy's range, which seed_everything enforces mid-run
        raise ConfigError("seed", seed, "must be an integer in [0, 2**32)")
    multi_label = bool((cfg.get("data") or {}).get("multi_label", False))
    choice("monitor", cfg.get("monitor"), MULTI_LABEL_MONITORS if multi_label else MONITORS)
    check_task_config(cfg, multi_label)
    ls = cfg.get("label_smoothing", 0.0)
    fraction("label_smoothing", ls, low_open=False)
    decay = cfg.get("ema_decay")
    if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 < decay < 1.0):
        raise ConfigError("ema_decay", decay, "must be a number in (0, 1) or null")
    eps = cfg.get("adversarial_eps", 0.0)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps < float("inf"):
        raise ConfigError("adversarial_eps", eps, "must be a finite number >= 0")
    choice("scheduler_interval", cfg.get("scheduler_interval", "epoch"), SCHEDULER_INTERVALS)
    # the pretrained table's learning rate over the optimizer's; 0 would be embeddings.freeze=true
    fraction("embeddings.lr_scale", (cfg.get("embeddings") or {}).get("lr_scale", 1.0), high_open=False)
    non_negative_int("embeddings.vocab_from_vectors", (cfg.get("embeddings") or {}).get("vocab_from_vectors", 0))
    check_distill_config(cfg.get("embeddings") or {})
    weights = cfg.get("class_weights")
    expected = f"expected null, auto, {', '.join(CLASS_WEIGHT_RULES)} or a list of numbers"
    if isinstance(weights, str) and weights not in (*CLASS_WEIGHT_RULES, "auto"):
        raise ConfigError("class_weights", weights, expected)
    if weights is not None and not isinstance(weights, str):
        try:
            values = [float(w) for w in weights]
        except (TypeError, ValueError):
            raise ConfigError("class_weights", weights, expected) from None
        if any(not 0 < v < math.inf for v in values):
            raise ConfigError("class_weights", weights, "weights must be positive finite numbers")
    ckpt = cfg.get("ckpt_path")
    if ckpt == "last":  # bilstm_clf.training.run_dir.FreshRunDir resolves it when the run to resume has one
        raise ConfigError("ckpt_path", ckpt, "no checkpoints/last.ckpt in that run; set hydra.run.dir=<the run to resume>, or ckpt_path=<a .ckpt file>")
    if ckpt is not None and not Path(str(ckpt)).exists():
        raise ConfigError("ckpt_path", ckpt, "no such checkpoint file; give a .ckpt path, 'last' or null")
    if ckpt is not None:
        from bilstm_clf.common.file_checks import regular_file

        regular_file(str(ckpt))  # a directory, a FIFO, a device: named before anything is built
    check_trainer_config(cfg.get("trainer") or {})
    check_model_config(cfg.get("model") or {})
    check_export_config(cfg.get("export") or {})


def _unset(node: Any, key: str) -> bool:
    return node.get(key) in (None, "???", "")  # a DictConfig's get() gives None for a missing '???'


def check_distill_config(embeddings: Any) -> None:
    """``embeddings=distilled``: a model folder to distil from (and valid layers), or the files a
    distillation wrote; checked before any data is read."""
    if "distill_from" not in embeddings:
        return
    model_dir = embeddings.get("distill_from")
    if model_dir is None:
        if _unset(embeddings, "path") or _unset(embeddings, "words"):
            raise ConfigError("embeddings.distill_from", None, "embeddings=distilled needs a Hugging Face model folder to distil from "
                              "(embeddings.distill_from=<folder>), or the vectors.npy and words.txt that scripts/distill_vectors.py "
                              "wrote (embeddings.path=... embeddings.words=...)")
        return
    if not isinstance(model_dir, str) or not model_dir.strip():
        raise ConfigError("embeddings.distill_from", model_dir, "must be a Hugging Face model folder, or null to read embeddings.path and embeddings.words")
    if not (Path(model_dir) / "config.json").is_file():
        raise ConfigError("embeddings.distill_from", model_dir, "not a Hugging Face model folder (no config.json)")
    from bilstm_clf.data.distill import DEFAULT_LAYERS, parse_layers

    layers = embeddings.get("distill_layers", DEFAULT_LAYERS)
    try:
        parse_layers(layers)
    except UserError as err:
        raise ConfigError("embeddings.distill_layers", layers, str(err)) from None


def check_export_config(export: Any) -> None:
    """configs/export: checked up front, since the export runs only after training."""
    known_keys("export", export, export_keys())
    for name in ("enabled", "force"):
        if name in export:
            boolean(f"export.{name}", export.get(name))
    from bilstm_clf.exporting.onnx_export import EXPORTERS, QUANTIZATIONS  # torch-free at import

    choice("export.exporter", export.get("exporter", "auto"), EXPORTERS)
    choice("export.quantize", export.get("quantize") or "none", QUANTIZATIONS)
    if export.get("enabled") and not (isinstance(export.get("dir"), str) and export.get("dir").strip()):
        raise ConfigError("export.dir", export.get("dir"), "must be a directory path")


def check_trainer_config(trainer: Any) -> None:
    """Numbers Lightning asserts on mid-fit rather than checking up front."""
    for name in ("max_epochs", "min_epochs"):
        value = trainer.get(name)
        if value is not None and (not is_int(value) or value < -1):
            raise ConfigError(f"trainer.{name}", value, "must be an integer >= -1 (-1: no limit) or null")
    if trainer.get("max_epochs") == 0:  # no training: the run would export an untrained model
        raise ConfigError("trainer.max_epochs", 0, "must be >= 1, -1 (no limit) or null; 0 trains nothing")
    if "log_every_n_steps" in trainer:
        positive_int("trainer.log_every_n_steps", trainer.get("log_every_n_steps"), optional=True)
    if "num_sanity_val_steps" in trainer:
        value = trainer.get("num_sanity_val_steps")
        if not is_int(value) or value < -1:
            raise ConfigError("trainer.num_sanity_val_steps", value, "must be an integer >= -1")
    for name in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
        value = trainer.get(name)
        ok = value is None or (is_int(value) and value >= 0) or (isinstance(value, float) and 0.0 <= value <= 1.0)
        if not ok:
            raise ConfigError(f"trainer.{name}", value, "must be a fraction in [0, 1] or a whole number of batches")
        if value == 0:  # nothing to train on, or no val/test metric to pick, stop and report on
            why = {"limit_val_batches": "validation picks the best checkpoint, stops early and drives the LR schedule",
                   "limit_test_batches": "set test=false to skip testing"}.get(name, "it would train nothing")
            raise ConfigError(f"trainer.{name}", value, f"must be > 0: {why}")
    clip = trainer.get("gradient_clip_val")
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or clip < 0):
        raise ConfigError("trainer.gradient_clip_val", clip, "must be a number >= 0 or null")


def check_model_config(model: Any) -> None:
    """configs/model: every BiLSTMClassifier argument, before any data is read. The model itself
    raises plain ValueErrors and knows no config keys."""
    from bilstm_clf.models.lstm import ENCODERS  # the registries import torch: only when asked
    from bilstm_clf.models.pooling import MERGE_MODES, POOLINGS

    known_keys("model", model, model_keys())
    for name in ("embedding_dim", "hidden_size", "num_layers", "attention_size"):
        if name in model:
            positive_int(f"model.{name}", model.get(name))
    for name in ("embedding_dropout", "lstm_dropout", "output_dropout", "word_dropout"):
        if name in model:
            probability(f"model.{name}", model.get(name))
    if "bidirectional" in model:
        boolean("model.bidirectional", model.get("bidirectional"))
    if "subword_buckets" in model:
        non_negative_int("model.subword_buckets", model.get("subword_buckets"))
    choice("model.pooling", model.get("pooling", "last"), list(POOLINGS))
    choice("model.merge_mode", model.get("merge_mode", "concat"), MERGE_MODES)
    choice("model.encoder", model.get("encoder", "padded"), ENCODERS)
    bias = model.get("forget_bias")
    if bias is not None and (isinstance(bias, bool) or not isinstance(bias, (int, float)) or not math.isfinite(bias)):
        raise ConfigError("model.forget_bias", bias, "must be a finite number or null")


def probe_optimizer(optimizer_factory, scheduler_factory) -> None:
    """Build the optimizer and scheduler once on a dummy parameter: a bad value (lr=-1, an unknown
    argument, an unknown plateau mode) fails here as a config error, not mid-fit as a traceback."""
    import torch

    parameter = torch.nn.Parameter(torch.zeros(1))
    try:
        optimizer = optimizer_factory(params=[parameter])
        # one real step: values the constructor accepts can still fail in the update's
        # arithmetic (Adam's lr=1e38 overflows float32 there), which mid-fit is a traceback
        parameter.grad = torch.ones(1)
        optimizer.step()
        optimizer.zero_grad()
    except (TypeError, ValueError, RuntimeError, ArithmeticError) as err:
        raise _rejected("optimizer", optimizer_factory, err) from None
    if scheduler_factory is not None:
        try:
            scheduler = scheduler_factory(optimizer=optimizer)
            optimizer.step()  # gradients were cleared: orders the calls as training does
            scheduler.step(0.0) if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) else scheduler.step()
        except (TypeError, ValueError, ArithmeticError) as err:
            raise _rejected("scheduler", scheduler_factory, err) from None


def _rejected(group: str, factory, err: Exception) -> UserError:
    """Name the argument the error is about when the message shows its name or its value."""
    keywords = dict(getattr(factory, "keywords", {}))
    target = getattr(getattr(factory, "func", factory), "__qualname__", str(factory))
    message = str(err)
    named = [k for k in keywords if re.search(rf"\b{re.escape(k)}\b", message)]
    valued = [k for k, v in keywords.items() if re.search(rf"(?<![\w.-]){re.escape(str(v))}(?![\w.])", message)]
    for candidates in (named, valued):
        if len(candidates) == 1:
            key = candidates[0]
            return ConfigError(f"{group}.{key}", keywords[key], f"{target} rejected it: {message}")
    args = ", ".join(f"{k}={v!r}" for k, v in keywords.items())
    return UserError(f"config {group}: {target}({args}) rejected its arguments: {message}")


def check_task_config(cfg: Any, multi_label: bool) -> None:
    """calibration, final_weights, and the multi-label keys thresholds and pos_weight."""
    choice("calibration", cfg.get("calibration", "temperature"), CALIBRATIONS)
    choice("final_weights", cfg.get("final_weights", "average"), FINAL_WEIGHTS)
    thresholds = cfg.get("thresholds", "per_label")
    if thresholds not in ("per_label", "global") and not (
        isinstance(thresholds, (int, float)) and not isinstance(thresholds, bool) and 0 < thresholds <= 1
    ):
        raise ConfigError("thresholds", thresholds, "expected per_label, global or a number in (0, 1]")
    weights = cfg.get("pos_weight")
    if weights is not None and weights != "balanced":
        try:
            values = [float(w) for w in weights]
        except (TypeError, ValueError):
            values = []
        if not values or any(not v > 0 for v in values) or isinstance(weights, str):
            raise ConfigError("pos_weight", weights, "expected null, balanced or a list of positive numbers")
    if multi_label:
        if cfg.get("class_weights") not in (None, "auto"):
            raise ConfigError("class_weights", cfg.get("class_weights"), "is for single-label data; with data.multi_label=true use pos_weight")
        if cfg.get("label_smoothing", 0.0):
            raise ConfigError("label_smoothing", cfg.get("label_smoothing"), "is for single-label data; set 0 with data.multi_label=true")
    elif weights is not None:
        raise ConfigError("pos_weight", weights, "is for multi-label data (data.multi_label=true); single-label data uses class_weights")
