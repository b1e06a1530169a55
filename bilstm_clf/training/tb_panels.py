"""TensorBoard panels as pure functions: confusion matrices (numbers, images, markdown),
misclassified-sentence tables and the hparams entries that compare runs on their final metrics.
No Lightning here; ``tb_reports`` is the callback that feeds them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# --- numbers ------------------------------------------------------------------------------
def confusion_matrix(true: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [C, C] (int64): row = true class, column = predicted class."""
    true = np.asarray(true, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    flat = np.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def row_normalise(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the recall of each true class on the diagonal); empty rows stay 0."""
    totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64), where=totals > 0)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


# --- pictures -----------------------------------------------------------------------------
def confusion_matrix_image(matrix: np.ndarray, label_names: Sequence[str], title: str, normalised: bool) -> np.ndarray:
    """Render a confusion matrix as an RGB image [H, W, 3] uint8 (matplotlib, Agg, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    classes = len(label_names)
    side = min(3.0 + 0.6 * classes, 12.0)
    figure = Figure(figsize=(side + 1.2, side), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0 if normalised else max(1, int(matrix.max())))
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(classes)
    axes.set_xticks(ticks, labels=[str(n) for n in label_names], rotation=45 if classes > 4 else 0, ha="right" if classes > 4 else "center")
    axes.set_yticks(ticks, labels=[str(n) for n in label_names])
    axes.tick_params(labelsize=12 if classes <= 12 else 8)
    axes.set_xlabel("predicted", fontsize=12)
    axes.set_ylabel("true", fontsize=12)
    axes.set_title(title, fontsize=12)
    if classes <= 30:  # beyond that the numbers would not fit in the cells
        threshold = (1.0 if normalised else max(1, int(matrix.max()))) / 2
        fontsize = 16 if classes <= 6 else 11 if classes <= 12 else 7
        for i in range(classes):
            for j in range(classes):
                value = matrix[i, j]
                text = f"{value:.2f}" if normalised else str(int(value))
                color = "white" if value > threshold else "black"
                axes.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=color)
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


# --- text ---------------------------------------------------------------------------------
_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|>")


def markdown_escape(text: str) -> str:
    """Make ``text`` render literally inside a TensorBoard markdown table cell (one line)."""
    out = []
    for char in " ".join(text.split()):  # newlines and tabs would end the table row
        if char in _MARKDOWN_SPECIAL:
            out.append("\\" + char)
        elif char == "&":
            out.append("&amp;")
        elif char == "<":
            out.append("&lt;")
        else:
            out.append(char)
    return "".join(out)


def shorten(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def confusion_matrix_markdown(counts: np.ndarray, label_names: Sequence[str]) -> str:
    """The exact counts as a markdown table (rows true, columns predicted) under the images."""
    header = "| true \\ predicted | " + " | ".join(markdown_escape(str(n)) for n in label_names) + " | total |"
    rule = "|" + "---|" * (len(label_names) + 2)
    rows = [
        f"| **{markdown_escape(str(name))}** | " + " | ".join(str(int(v)) for v in counts[i]) + f" | {int(counts[i].sum())} |"
        for i, name in enumerate(label_names)
    ]
    accuracy = np.trace(counts) / max(1, counts.sum())
    return "\n".join([header, rule, *rows, "", f"{int(counts.sum())} sentences, accuracy {accuracy:.4f}"])


@dataclass(frozen=True)
class ErrorSample:
    """Which wrong examples a panel shows: ``size`` of them, drawn with the same ``seed`` every
    epoch (so the sample changes only where the predictions change), texts cut to ``max_chars``."""

    size: int
    seed: int = 0
    max_chars: int = 200

    def draw(self, wrong: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """``size`` of the indices ``wrong``, the highest ``rank[index]`` first."""
        chosen = np.random.default_rng(self.seed).permutation(wrong)[: self.size]
        return chosen[np.argsort(-rank[chosen], kind="stable")]


def misclassified_markdown(texts: Sequence[str], true: np.ndarray, probs: np.ndarray, label_names: Sequence[str], sample: ErrorSample) -> str:
    """A fixed random sample of the wrong predictions, most confident first, as a markdown table."""
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != true)
    header = f"{len(wrong)} of {len(true)} sentences misclassified"
    if len(wrong) == 0:
        return header + "."
    chosen = sample.draw(wrong, probs[np.arange(len(pred)), pred])
    lines = [
        f"{header}; {len(chosen)} shown, most confident first. Confidence is the predicted class's probability.",
        "",
        "| sentence | true | predicted | confidence | p(true) |",
        "|---|---|---|---|---|",
    ]
    for i in chosen:
        lines.append(
            f"| {markdown_escape(shorten(texts[i], sample.max_chars))} | {markdown_escape(str(label_names[true[i]]))} "
            f"| {markdown_escape(str(label_names[pred[i]]))} | {probs[i, pred[i]]:.3f} | {probs[i, true[i]]:.3f} |"
        )
    return "\n".join(lines)
