#!/usr/bin/env python
"""Start TensorBoard on the logs root, so every run (and multirun) shows side by side.

    python scripts/tensorboard.py                      # logs/ of this checkout, http://127.0.0.1:6006/
    python scripts/tensorboard.py --logdir logs/runs/sst2 --port 0   # 0: any free port (printed)
    python scripts/tensorboard.py --host 0.0.0.0       # reachable from other machines
    python scripts/tensorboard.py -- --samples_per_plugin images=100  # more TensorBoard flags after --
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, default=ROOT / "logs", help="logs root (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=6006, help="0 picks a free port")
    parser.add_argument("extra", nargs="*", help="further TensorBoard flags, after --")
    args = parser.parse_args(argv)

    if not args.logdir.is_dir():
        print(f"error: {args.logdir}: no such directory (train a model first: make train)", file=sys.stderr)
        sys.exit(2)
    command = [
        sys.executable, "-m", "tensorboard.main",
        "--logdir", str(args.logdir), "--host", args.host, "--port", str(args.port),
        # keep the panels of up to 100 validation epochs, not a sample of 10 (0 would keep none)
        "--samples_per_plugin", "images=100,pr_curves=100,text=100",
        *args.extra,
    ]
    os.execv(sys.executable, command)


if __name__ == "__main__":
    main()
