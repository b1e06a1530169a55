"""``trainer.precision=auto``: bf16 autocast where the hardware runs bf16 natively, else fp32.

bf16 autocast ran the training step 1.46-1.57x faster than fp32 on a CPU with AVX512-BF16
(docs/benchmarks.md), with the same dev scores; on a CPU without native bf16 it is emulated and
slower, so there it stays off.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("bilstm_clf")

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Linux /proc/cpuinfo flags; elsewhere (unknown) False, the safe answer."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def resolve_precision(precision, accelerator) -> str:
    """The precision Lightning gets: ``precision`` itself unless it is ``auto``."""
    if precision != "auto":
        return precision
    import torch

    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        chosen = "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32-true"
    else:
        chosen = "bf16-mixed" if cpu_has_native_bf16() else "32-true"
    log.info("trainer.precision=auto: %s (%s)", chosen, "GPU" if on_gpu else "CPU " + ("with" if chosen != "32-true" else "without") + " native bf16")
    return chosen
