"""The reliability diagram as a picture (pure: numbers in, an RGB array out; matplotlib Agg).

Bars: the accuracy in each confidence bin, before (uncalibrated softmax) and after temperature
scaling; the diagonal is perfect calibration, so bars below it are over-confidence.
"""

from __future__ import annotations

import numpy as np

from bilstm_clf.training.calibration import ReliabilityBins


def reliability_diagram_image(before: ReliabilityBins, after: ReliabilityBins, title: str) -> np.ndarray:
    """[H, W, 3] uint8: accuracy against confidence per bin, before and after, with each ECE."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 5.2), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    edges = before.edges
    width = (edges[1] - edges[0]) / 2
    left = edges[:-1]
    for offset, bins, name, colour in ((0.0, before, "before", "#d62728"), (width, after, "after", "#1f77b4")):
        heights = np.nan_to_num(bins.accuracy, nan=0.0)
        axes.bar(left + offset, heights, width=width, align="edge", color=colour, alpha=0.75,
                 label=f"{name}: ECE {100 * bins.ece:.2f}%")
    axes.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1, label="perfect calibration")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("confidence (top probability)", fontsize=11)
    axes.set_ylabel("accuracy in the bin", fontsize=11)
    axes.set_title(title, fontsize=11)
    axes.legend(loc="upper left", fontsize=9)
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
