"""Export a trained checkpoint to a self-contained bundle: ``python -m bilstm_clf.export RUN_DIR|CKPT``.

The bundle (``bilstm_clf.common.bundle`` describes it) runs without torch through
``bilstm_clf.serving``. The work is in ``bilstm_clf.exporting``.
"""

from __future__ import annotations

import argparse
import json
import logging

from bilstm_clf.common.errors import UserError, exit_on_user_error
from bilstm_clf.exporting.onnx_export import EXPORTERS, QUANTIZATIONS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bilstm_clf.export",
        description="Export a checkpoint (the best of a run when given a run directory) to an ONNX bundle; "
        "several make one ensemble bundle that averages their probabilities.",
    )
    parser.add_argument("checkpoint", nargs="+", help="a .ckpt file, or a run directory (its best checkpoint is used); several: an ensemble")
    parser.add_argument("--out", "-o", help="bundle directory to write (default: <run dir>/bundle; required for an ensemble)")
    parser.add_argument("--force", action="store_true", help="replace an existing bundle (atomically)")
    parser.add_argument("--exporter", choices=EXPORTERS, default="auto", help="ONNX exporter (default auto: the direct graph for last-state pooling, else torchscript, falling back to dynamo)")
    parser.add_argument(
        "--quantize", choices=QUANTIZATIONS, default="none",
        help="int8: weights in int8, 1.5-2x faster at batch 1 and 4x smaller, probabilities approximate (default none: exact)",
    )
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from bilstm_clf.exporting.bundle_writer import export_bundle, export_ensemble

    if len(args.checkpoint) == 1:
        bundle = export_bundle(args.checkpoint[0], args.out, force=args.force, exporter=args.exporter, quantize=args.quantize)
    elif not args.out:
        raise UserError("an ensemble of several checkpoints needs --out DIR")
    else:
        bundle = export_ensemble(args.checkpoint, args.out, force=args.force, exporter=args.exporter, quantize=args.quantize)
    onnx_info = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))["onnx"]
    kind = f", {onnx_info['quantization']}" if onnx_info.get("quantization") else ""
    print(f"bundle: {bundle} ({onnx_info['exporter']} exporter{kind}, checked against torch: max diff {onnx_info['verified_max_abs_diff']:.1e})")


if __name__ == "__main__":
    main()
