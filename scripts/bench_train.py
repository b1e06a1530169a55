#!/usr/bin/env python
"""Training throughput, side by side in one run, on the same sentences.

    python scripts/bench_train.py                   # SST-2 train sentences, E300 H256, batch 64
    python scripts/bench_train.py --quick           # seconds: tiny model, a few batches (smoke test)
    python scripts/bench_train.py --threads 1 --json bench.json
    python scripts/bench_train.py --threads 1 --profile raw     # where one variant's time goes
    python scripts/bench_train.py --device cuda                 # GPU: batches pinned, lengths on the host

Variants (one training step = forward, cross-entropy, backward, clip_grad_norm_ 5.0, Adam step):

- ``lightning``:     the project's training step through pl.Trainer (configs/trainer/default.yaml and
                     configs/model, configs/optimizer as composed by Hydra; logger, checkpointing,
                     progress bar, model summary and validation off), bucketed batches;
- ``raw``:           a hand-written PyTorch loop, same model, same batches;
- ``raw-packed``:    the raw loop with ``model.encoder=packed`` (nn.LSTM over pack_padded_sequence);
- ``naive``:         the raw loop, default model, naive batching: the same sentences in random
                     batches, all padded to the dataset's longest sentence;
- ``naive-packed``:  naive batches, packed encoder (packing drops the padding, not the disorder);
- ``enc-padded`` / ``enc-packed``: the encoder alone (forward + backward), same batches;
- ``enc-inexact``:   plain bidirectional nn.LSTM on the padded batch, what exactness costs (its
                     backward direction starts on padding: wrong for every shorter sentence);
- ``raw-unfused``:   the raw loop with torch's default optimizer step (``optimizer.fused=null``;
                     the configs use ``fused: true``);
- ``raw-bf16``:      the raw loop under bf16 autocast, as ``trainer.precision=bf16-mixed`` runs it;
- ``raw-torch-dropout``: the raw loop with torch's ``nn.Dropout`` (a CPU ``bernoulli_`` call per
                     element) instead of the model's ``bilstm_clf.models.dropout.Dropout``.

Variants run round-robin (a warm-up round first, not counted), so background load hits all
equally; each figure is the median over rounds, each ratio the median of per-round ratios. Throughput counts real tokens, never padding.
GFLOP/s counts the useful work (LSTM gate matmuls, head, embedding gradient; training ≈ 3x the
forward pass) and MFU divides it by this machine's fp32 matmul rate, measured in every round.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))  # bench_train_variants.py: the workload and the variants

from bilstm_clf.data.download import find_benchmark_file  # noqa: E402
from bilstm_clf.common.errors import exit_on_user_error  # noqa: E402
from bench_train_variants import Bench, Clock, build_workload, compose_config  # noqa: E402

SST2_TRAIN = Path("sst2") / "train.tsv"
VARIANTS = ("lightning", "raw", "raw-packed", "naive", "naive-packed", "enc-padded", "enc-packed", "enc-inexact", "raw-unfused", "raw-bf16", "raw-torch-dropout")


def matmul_gflops(size: int, device: torch.device, repeats: int = 3) -> tuple[float, float]:
    """This machine's fp32 matmul rate now, per wall second and per CPU second: best of a few
    large torch.matmul calls."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    torch.matmul(a, b)
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        clock = Clock(device)
        torch.matmul(a, b)
        wall, cpu = clock.stop()
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, max(cpu, 1e-9))
    flops = 2 * size**3
    return flops / best_wall / 1e9, flops / best_cpu / 1e9


# --- FLOPs ----------------------------------------------------------------------------------------
def train_flops(model_config: dict, tokens: int, sentences: int, encoder_only: bool = False) -> float:
    """Useful FLOPs of one pass over the workload: multiply-adds of the LSTM gates (4H x (input + H)
    per token, direction and layer), the pooling/head on real tokens, embedding-gradient adds.
    Backward ≈ 2x forward, so training ≈ 3x forward. Padding and elementwise gate math not counted."""
    E, H, L = model_config["embedding_dim"], model_config["hidden_size"], model_config["num_layers"]
    D = 2 if model_config["bidirectional"] else 1
    lstm = sum(2 * 4 * H * ((E if layer == 0 else D * H) + H) * D for layer in range(L)) * tokens
    if encoder_only:
        return 3 * lstm
    width = D * H
    pooled = width if model_config["pooling"] != "last" or model_config["merge_mode"] == "concat" else H
    head = 2 * pooled * model_config["num_classes"] * sentences
    if model_config["pooling"] == "attention":
        head += 2 * width * model_config["attention_size"] * tokens + 2 * model_config["attention_size"] * tokens
    embedding_grad = E * tokens
    return 3 * (lstm + head) + embedding_grad


# --- report ---------------------------------------------------------------------------------------
def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


ROWS = {
    "lightning": "(a) project step through Lightning, bucketed, {enc}",
    "raw": "(b) hand-written loop, bucketed, {enc}",
    "raw-packed": "(d) hand-written loop, bucketed, packed nn.LSTM",
    "naive": "(c) hand-written loop, naive (unsorted, padded to max length), {enc}",
    "naive-packed": "hand-written loop, naive (unsorted), packed nn.LSTM",
    "enc-padded": "(d) encoder only, bucketed, exact-padded BiLSTM",
    "enc-packed": "(d) encoder only, bucketed, packed nn.LSTM",
    "enc-inexact": "encoder only, bucketed, plain nn.LSTM on padding (inexact, for reference)",
    "raw-unfused": "hand-written loop, bucketed, {enc}, unfused optimizer step (optimizer.fused=null)",
    "raw-bf16": "hand-written loop, bucketed, {enc}, bf16 autocast (trainer.precision=bf16-mixed)",
    "raw-torch-dropout": "hand-written loop, bucketed, {enc}, torch's nn.Dropout (per-element bernoulli_)",
}

# (numerator, denominator, what it shows, target or None)
RATIOS = [
    ("lightning", "raw", "Lightning / raw loop", 0.95),
    ("lightning", "naive", "project default (Lightning, bucketed, {enc}) / naive batching", 2.0),
    ("raw", "naive", "bucketed / naive batching, same loop and model", 2.0),
    ("raw", "raw-packed", "exact-padded / packed nn.LSTM, whole training step", 1.3),
    ("enc-padded", "enc-packed", "exact-padded / packed nn.LSTM, encoder forward+backward", 1.3),
    ("enc-padded", "enc-inexact", "exact-padded / inexact padded nn.LSTM, encoder (the price of exactness)", None),
    ("raw", "raw-unfused", "fused optimizer step (default) / unfused (optimizer.fused=null)", None),
    ("raw-bf16", "raw", "bf16 autocast / fp32 (opt-in; MFU column is against the fp32 peak)", None),
    ("raw", "raw-torch-dropout", "the model's dropout (64-bit draws cut into 15-bit uniforms) / torch's nn.Dropout", None),
]


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="TSV with sentence and label columns (default: SST-2 train sentences)")
    parser.add_argument("--batches", type=int, default=20, help="batches per variant and round")
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds (after one warm-up round)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--embedding-dim", type=int, default=300)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (batches pinned, lengths kept on the host)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {','.join(VARIANTS)}")
    parser.add_argument("--override", action="append", default=[], help="extra Hydra override for the model/trainer config")
    parser.add_argument("--matmul-size", type=int, help="side of the square matmul for the peak (default 2048, 8192 on CUDA)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--profile", metavar="VARIANT", help="instead: torch.profiler table of one pass of VARIANT (after a warm-up pass)")
    parser.add_argument("--quick", action="store_true", help="tiny model and workload: checks the script works, in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.rounds, args.batch_size = 2, 1, 8
        args.embedding_dim, args.hidden_size, args.matmul_size = 16, 16, 256
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = (set(variants) | ({args.profile} if args.profile else set())) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    if args.threads:
        torch.set_num_threads(args.threads)

    import pytorch_lightning  # noqa: F401  (sets its loggers' levels on import; quiet them after)

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning|lightning_fabric|lightning")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")

    load_before = load_average()
    data_path = find_benchmark_file(SST2_TRAIN, ROOT, args.data)
    work = build_workload(data_path, args.batch_size, args.batches, args.seed)
    if len(work.bucketed) < args.batches:
        print(f"note: the data gives only {len(work.bucketed)} full batches", file=sys.stderr)
    cfg = compose_config([f"model.embedding_dim={args.embedding_dim}", f"model.hidden_size={args.hidden_size}", *args.override])
    device = torch.device(args.device)
    args.matmul_size = args.matmul_size or (8192 if device.type == "cuda" else 2048)
    if device.type == "cuda":
        work.bucketed = [{k: v.pin_memory() for k, v in b.items()} for b in work.bucketed]
        work.naive = [{k: v.pin_memory() for k, v in b.items()} for b in work.naive]
    bench = Bench(cfg, work, args.seed, device)
    enc = bench.default_encoder

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        bench.run(args.profile)
        with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])) as prof:
            bench.run(args.profile)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
        return 0

    walls: dict[str, list[float]] = {v: [] for v in variants}
    cpus: dict[str, list[float]] = {v: [] for v in variants}
    peaks: list[tuple[float, float]] = []
    for round_index in range(args.rounds + 1):  # round 0 warms up caches and oneDNN primitives
        order = variants[round_index % len(variants) :] + variants[: round_index % len(variants)]
        peak = matmul_gflops(args.matmul_size, device)
        for variant in order:
            wall, cpu = bench.run(variant)
            if round_index > 0:
                walls[variant].append(wall)
                cpus[variant].append(cpu)
        if round_index > 0:
            peaks.append(peak)
            print(f"round {round_index}: " + ", ".join(f"{v} {work.sentences / walls[v][-1]:.0f}/s" for v in variants)
                  + f"; load {load_average()}", file=sys.stderr, flush=True)
    load_after = load_average()

    # The best round: contention only ever slows a matmul down, so MFU errs low rather than high.
    peak_wall = max(p[0] for p in peaks)
    peak_cpu = max(p[1] for p in peaks)
    results = {}
    for variant in variants:
        wall, cpu = statistics.median(walls[variant]), statistics.median(cpus[variant])
        flops = train_flops(bench.model_config, work.tokens, work.sentences, encoder_only=variant.startswith("enc-"))
        results[variant] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "sentences_per_s": work.sentences / wall,
            "tokens_per_s": work.tokens / wall,
            "gflops_per_s": flops / wall / 1e9,
            "mfu": flops / wall / 1e9 / peak_wall,
            "sentences_per_cpu_s": work.sentences / cpu,
            "mfu_cpu_time": flops / cpu / 1e9 / peak_cpu,
            "all_wall_s": walls[variant],
            "all_cpu_s": cpus[variant],
        }

    lines = [
        f"torch {torch.__version__}, {device_name(device)}, {torch.get_num_threads()} thread(s), {cpu_name()} ({os.cpu_count()} CPUs); "
        f"data {data_path.name} ({work.dataset_sentences} sentences, mean length {work.mean_length:.1f}, max {work.max_length}); "
        f"E{args.embedding_dim} H{args.hidden_size}, batch {args.batch_size}, {args.batches} batches x {args.rounds} rounds "
        f"({work.sentences} sentences, {work.tokens} real tokens; padded tokens: bucketed {work.bucketed_padded_tokens}, "
        f"naive {work.naive_padded_tokens}); default encoder: {enc}",
        f"fp32 matmul peak {peak_wall:.1f} GFLOP/s, {peak_cpu:.1f} GFLOP per CPU-second ({args.matmul_size}x{args.matmul_size}, "
        f"best round); load average before {load_before}, after {load_after}",
        "",
        "| variant | sentences/s | tokens/s | GFLOP/s | MFU | sentences per CPU-s | MFU (CPU time) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant in variants:
        r = results[variant]
        lines.append(
            f"| {ROWS[variant].format(enc=enc)} | {r['sentences_per_s']:.0f} | {r['tokens_per_s']:.0f} "
            f"| {r['gflops_per_s']:.1f} | {100 * r['mfu']:.1f}% | {r['sentences_per_cpu_s']:.0f} | {100 * r['mfu_cpu_time']:.1f}% |"
        )
    lines += ["", "| ratio | wall clock | CPU time | target |", "|---|---:|---:|---|"]
    ratios = {}
    for num, den, what, target in RATIOS:
        if num in results and den in results:
            # Paired by round (neighbours in time share the background load), then the median.
            wall = statistics.median(d / n for n, d in zip(walls[num], walls[den]))
            cpu = statistics.median(d / n for n, d in zip(cpus[num], cpus[den]))
            ratios[f"{num}/{den}"] = {"wall": wall, "cpu": cpu}

            def verdict(value: float) -> str:
                return f"{value:.2f}x" + ("" if target is None else (" ✓" if value >= target else " ✗"))

            lines.append(f"| {what.format(enc=enc)} | {verdict(wall)} | {verdict(cpu)} | {'' if target is None else f'≥ {target}x'} |")
    print("\n".join(lines))

    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"results": results, "ratios": ratios, "peak_gflops": peak_wall, "peak_gflops_per_cpu_s": peak_cpu, "load_before": load_before, "load_after": load_after,
                 "args": vars(args), "torch": torch.__version__, "threads": torch.get_num_threads()},
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
