"""ONNX export of a ``BiLSTMClassifier``, checked against torch with onnxruntime, and optional
int8 dynamic quantisation.

Classifiers with last-state pooling (the default) are written straight from their weights, one
ONNX ``LSTM`` op per layer (``onnx_graph``). Other models go through a torch exporter with the
exact padded encoder (plain LSTM ops; packed-encoder weights load into it unchanged). Every graph
is checked against torch on varied batch sizes and lengths.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from pathlib import Path
from typing import Any

from bilstm_clf.common import bundle
from bilstm_clf.common.errors import UserError
from bilstm_clf.exporting.onnx_graph import OPSET as DIRECT_OPSET
from bilstm_clf.exporting.onnx_graph import applies as direct_graph_applies
from bilstm_clf.exporting.onnx_graph import build_graph

log = logging.getLogger("bilstm_clf.export")

EXPORTERS = ("auto", "direct", "torchscript", "dynamo")  # auto: direct where it applies, then torchscript, then dynamo
QUANTIZATIONS = ("none", "int8")
VERIFY_TOLERANCE = 1e-4  # max |probability difference| between torch and onnxruntime at export
# An int8 bundle is approximate by design (a trained SST-2 model: up to 0.04 in probability, 7 of
# 1,821 test labels changed; docs/benchmarks.md). This bound only catches a broken graph.
INT8_VERIFY_TOLERANCE = 0.25



def vocab_size_of(model) -> int:
    """The ids a classifier (or an ensemble, or a temperature-scaled one) embeds."""
    return model.vocab_size


ACTIVATIONS = ("softmax", "sigmoid")  # sigmoid: multi-label, one independent probability per label


def _probability_model(model, activation: str = "softmax"):
    import torch

    class WithProbabilities(torch.nn.Module):
        def __init__(self, classifier):
            super().__init__()
            self.classifier = classifier
            self.activation = activation

        def forward(self, input_ids, lengths):
            logits = self.classifier(input_ids, lengths)
            return logits, torch.sigmoid(logits) if activation == "sigmoid" else torch.softmax(logits, dim=-1)

    if activation not in ACTIVATIONS:
        raise UserError(f"activation {activation!r}: expected one of {', '.join(ACTIVATIONS)}")
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
        input_names=list(bundle.INPUT_NAMES),
        output_names=list(bundle.OUTPUT_NAMES),
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
        input_names=list(bundle.INPUT_NAMES),
        output_names=list(bundle.OUTPUT_NAMES),
        dynamic_axes={"input_ids": {0: "batch", 1: "length"}, "lengths": {0: "batch"}, "logits": {0: "batch"}, "probabilities": {0: "batch"}},
        opset_version=opset,
        **({"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}),
    )
    return opset


def _export_direct(model, path: Path, example) -> int:
    import onnx

    onnx.save(build_graph(model.classifier, model.activation), str(path))
    return DIRECT_OPSET


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


def export_onnx(model, path: str | Path, exporter: str = "auto", activation: str = "softmax") -> dict[str, Any]:
    """Write ``model`` (a BiLSTMClassifier) as ONNX and check it; returns what metadata records.

    ``auto`` writes the direct graph where it applies (``onnx_graph``: last-state pooling, not an
    ensemble); otherwise, or when that fails the check, the TorchScript exporter, falling back to
    the dynamo exporter where that one is missing, fails, or gives a graph that fails the check.
    The direct graph is 15-25% faster at batch 1 (one ``LSTM`` op a layer instead of two plus the
    reversal gathers; docs/benchmarks.md). The torch exporters give graphs of the same speed in
    onnxruntime, but on torch 2.13 (onnxscript 0.7) the dynamo exporter takes 5-13 s per export
    against 0.3 s, and for bidirectional models whose pooling reads every step (mean, max,
    attention) it leaves the sequence length fixed at the example's inside the graph; the check
    below catches that. ``dynamo`` forces it; it is the one torch develops further.
    """
    if exporter not in EXPORTERS:
        raise UserError(f"exporter {exporter!r}: expected one of {', '.join(EXPORTERS)}")
    path = Path(path)
    wrapped = _probability_model(model, activation)
    vocab_size = vocab_size_of(model)
    example = _example_inputs(vocab_size)
    attempts = {"direct": _export_direct, "dynamo": _export_dynamo, "torchscript": _export_torchscript}
    order = ([*(["direct"] if direct_graph_applies(model) else []), "torchscript", "dynamo"] if exporter == "auto" else [exporter])
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
            "padding_id": bundle.PADDING_ID,
            "probabilities": activation,
            "verified_max_abs_diff": max_diff,
            "sha256": bundle.sha256(path),
        }
    raise UserError("ONNX export failed: " + "; ".join(failures))


def quantize_onnx(model, path: Path, activation: str = "softmax") -> dict[str, Any]:
    """Rewrite ``path`` in place with int8 weights (onnxruntime dynamic quantisation: LSTM,
    MatMul/Gemm and the embedding Gather; activations are quantised per call). At batch 1 on one
    CPU thread it runs 1.5-2x faster than the float bundle and is 4x smaller, at the price of
    exactness; returns what metadata records."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    wrapped = _probability_model(model, activation)
    float_path = path.with_name(path.stem + ".float.onnx")
    path.rename(float_path)
    try:
        with _quiet_loggers("root", "onnxruntime"):  # a "consider pre-processing" hint per call
            quantize_dynamic(str(float_path), str(path), weight_type=QuantType.QInt8)
    finally:
        float_path.unlink(missing_ok=True)
    max_diff = verify_onnx(wrapped, path, vocab_size_of(model), tolerance=INT8_VERIFY_TOLERANCE)
    return {"quantization": "int8-dynamic", "verified_max_abs_diff": max_diff, "sha256": bundle.sha256(path)}


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
