"""Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks") and the
expected calibration error, for single-label models.

One scalar T > 0 divides the logits: softmax(z / T). It is fitted on dev after training by
minimising the negative log-likelihood over log T with L-BFGS (so T stays positive); dividing by
a positive number never changes the argmax, so predictions and accuracy stay exactly as they
were, and only the confidence moves. ECE: the predictions' top probability ("confidence") in
``bins`` equal-width bins over [0, 1]; the mean over bins, weighted by their share of examples, of
|accuracy in the bin - mean confidence in the bin| (Guo et al., Naeini et al. 2015).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ECE_BINS = 15  # as Guo et al.
METHODS = ("temperature", "none")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels under softmax(logits / T)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
    return float(np.mean(log_z - scaled[np.arange(len(labels)), labels]))


@dataclass(frozen=True)
class ReliabilityBins:
    """Per confidence bin: its bounds, examples, mean confidence and accuracy (NaN when empty)."""

    edges: np.ndarray  # [bins + 1]
    counts: np.ndarray  # [bins]
    confidence: np.ndarray  # [bins]
    accuracy: np.ndarray  # [bins]

    @property
    def ece(self) -> float:
        total = self.counts.sum()
        if total == 0:
            return 0.0
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float((self.counts[filled] / total * gaps).sum())


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> ReliabilityBins:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin b holds confidences in (edges[b], edges[b + 1]]; a confidence of exactly 0 joins bin 0
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(which, weights=correct.astype(np.float64), minlength=bins) / counts
    return ReliabilityBins(edges, counts, mean_confidence, accuracy)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    return reliability(probabilities, labels, bins).ece


def fit_temperature(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200) -> float:
    """The T minimising the dev NLL of softmax(logits / T): L-BFGS (strong Wolfe line search) on
    log T, from T = 1, in float64. Returns 1.0 when there is nothing to fit on."""
    import torch

    if len(labels) == 0:
        return 1.0
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-12)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    if not np.isfinite(temperature) or temperature <= 0:
        return 1.0
    # never worse than not scaling (a flat or pathological dev set)
    return temperature if nll(logits, labels, temperature) <= nll(logits, labels) else 1.0


def calibration_report(logits: np.ndarray, labels: np.ndarray, temperature: float, bins: int = ECE_BINS) -> dict[str, float]:
    """ECE and NLL before and after dividing by ``temperature``, and the accuracy (the same for both)."""
    before, after = softmax(logits), softmax(logits, temperature)
    return {
        "ece": expected_calibration_error(before, labels, bins),
        "ece_calibrated": expected_calibration_error(after, labels, bins),
        "nll": nll(logits, labels),
        "nll_calibrated": nll(logits, labels, temperature),
        "acc": float((before.argmax(axis=1) == labels).mean()) if len(labels) else 0.0,
    }
