"""After training (single-label, ``calibration=temperature``): fit the temperature on dev with the
tested weights, record it in the best checkpoint (so export carries it into the bundle), and
report ECE and NLL before and after on dev and test, with reliability diagrams in TensorBoard.
The math is in ``calibration``; this module runs it on a trained model."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from bilstm_clf.common.atomic import write_atomic
from bilstm_clf.data.batching import BucketBatchSampler, PadCollate
from bilstm_clf.training.calibration import calibration_report, fit_temperature, reliability
from bilstm_clf.training.lit_module import CHECKPOINT_KEY

log = logging.getLogger("bilstm_clf.train")


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, dataset, pad_id: int = 0, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(logits [N, C] float64, labels [N]) of a whole split, in dataset order, on the model's device."""
    sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=False, num_replicas=1, rank=0)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits = np.empty((len(dataset), 0))
    parts, order = [], []
    for batch in DataLoader(dataset, batch_sampler=sampler, collate_fn=PadCollate(pad_id)):
        parts.append(model(batch["input_ids"].to(device), batch["lengths"]).double().cpu().numpy())
        order.append(batch["index"].numpy())
    model.train(was_training)
    if parts:
        logits = np.empty((len(dataset), parts[0].shape[1]))
        logits[np.concatenate(order)] = np.concatenate(parts)
    return logits, np.asarray(dataset.labels)


def store_in_checkpoint(path: str | Path, calibration: dict[str, Any], run_dir: str | Path) -> Path:
    """Add ``calibration`` to the checkpoint's bilstm_clf entry; returns the file that holds it.

    A checkpoint of this run is rewritten atomically, and its other names (``last.ckpt`` as a hard
    link of the same epoch) are pointed at the new file. A checkpoint of another run (a resumed
    run's best can be the old run's) is never written to: a calibrated copy goes into this run's
    ``checkpoints/``."""
    path, run_dir = Path(path), Path(run_dir)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint.setdefault(CHECKPOINT_KEY, {})["calibration"] = calibration
    if not path.resolve().is_relative_to(run_dir.resolve()):
        target = run_dir / "checkpoints" / path.name
        target = target if not target.exists() else target.with_name(f"{path.stem}-calibrated.ckpt")
        write_atomic(target, lambda tmp: torch.save(checkpoint, tmp))
        return target
    siblings = [p for p in path.parent.glob("*.ckpt") if p != path and p.samefile(path)]
    write_atomic(path, lambda tmp: torch.save(checkpoint, tmp))
    for other in siblings:  # one file with two names stays one file
        staging = other.with_name(f".{other.name}.link")
        staging.unlink(missing_ok=True)
        os.link(path, staging)
        os.replace(staging, other)
    return path


def calibrate(method: str, module, datamodule, best_path: str, run_dir: str | Path = ".", writer=None, step: int = 0) -> dict[str, Any]:
    """Keys for metrics.json: ``val/ece``, ``val/ece_calibrated`` (and ``test/...``),
    ``calibration`` (method, temperature, the NLL before and after per split) and, when a
    checkpoint was calibrated, ``best_checkpoint``: the file that now holds the temperature."""
    if method == "none" or getattr(module, "multi_label", False):
        return {"calibration": {"method": "none"}}
    model = module.eval_model
    val_logits, val_labels = predict_logits(model, datamodule.datasets["val"], datamodule.pad_id)
    temperature = fit_temperature(val_logits, val_labels)
    metrics: dict[str, Any] = {}
    losses: dict[str, float] = {}
    splits = {"val": (val_logits, val_labels)}
    if "test" in datamodule.datasets:
        splits["test"] = predict_logits(model, datamodule.datasets["test"], datamodule.pad_id)
    for split, (logits, labels) in splits.items():
        report = calibration_report(logits, labels, temperature)
        metrics.update({f"{split}/ece": report["ece"], f"{split}/ece_calibrated": report["ece_calibrated"]})
        losses.update({f"{split}_nll": report["nll"], f"{split}_nll_calibrated": report["nll_calibrated"]})
        if writer is not None:
            from bilstm_clf.training.calibration import softmax
            from bilstm_clf.training.tb_reliability import reliability_diagram_image

            name = "dev" if split == "val" else split
            image = reliability_diagram_image(
                reliability(softmax(logits), labels), reliability(softmax(logits, temperature), labels),
                f"{name} reliability, temperature T = {temperature:.3f} (fitted on dev)",
            )
            writer.add_image(f"{split}/reliability_diagram", image, step, dataformats="HWC")
    calibration = {"method": "temperature", "temperature": temperature, "fitted_on": "val",
                   "val_ece": metrics["val/ece"], "val_ece_calibrated": metrics["val/ece_calibrated"]}
    module.calibration = calibration  # for an export from memory (no checkpoint callback)
    stored = {"best_checkpoint": str(store_in_checkpoint(best_path, calibration, run_dir))} if best_path else {}
    log.info("temperature scaling: T = %.4f; dev ECE %.2f%% -> %.2f%%%s", temperature, 100 * metrics["val/ece"],
             100 * metrics["val/ece_calibrated"],
             f"; test ECE {100 * metrics['test/ece']:.2f}% -> {100 * metrics['test/ece_calibrated']:.2f}%" if "test/ece" in metrics else "")
    return {"calibration": {"method": "temperature", "temperature": temperature, **losses}, **metrics, **stored}
