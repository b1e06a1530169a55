#!/usr/bin/env python
"""Where an exact bundle's time goes at batch 1: onnxruntime's per-node profile of the graph each
exporter writes, and the ``LSTM`` op alone at a few shapes.

    python scripts/bench_onnx_graph.py                  # random E350 H128 (the default recipe's shape), SST-2 test
    python scripts/bench_onnx_graph.py --quick          # seconds: a few sentences, fewer repeats (smoke test)

Part 1: for the direct graph (``onnx_graph``) and the TorchScript exporter's graph of the same
random model, the graph's nodes by type and onnxruntime's profiled kernel time per op type, summed
over one sentence-at-a-time pass over the test set (one thread). Part 2: a graph of one ``LSTM``
op with random weights, fed the same input repeatedly; microseconds per call, best of the repeats.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bilstm_clf.exporting.bundle_writer import write_bundle  # noqa: E402
from bilstm_clf.serving.runtime import Classifier, session_options  # noqa: E402
from bench_inference import random_source, sst2_test_texts  # noqa: E402

LSTM_SHAPES = [(350, 128, 2, 19), (8, 128, 2, 19), (350, 128, 2, 1), (8, 128, 2, 1)]  # E, H, directions, steps


def _options(profile_prefix: Path | None = None) -> ort.SessionOptions:
    """The bundle runtime's own settings at one thread, profiling on top."""
    options = session_options(threads=1)
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    return options


def profile_graph(model_path: Path, feeds: list[dict]) -> tuple[int, dict[str, float]]:
    """(node count, µs per sentence of kernel time by op type) over one pass of ``feeds``."""
    nodes = len(onnx.load(str(model_path)).graph.node)
    session = ort.InferenceSession(str(model_path), _options(model_path.parent / "profile"), providers=["CPUExecutionProvider"])
    for feed in feeds:
        session.run(["probabilities"], feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op: dict[str, float] = collections.defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"] / len(feeds)
    return nodes, dict(sorted(by_op.items(), key=lambda kv: -kv[1]))


def lstm_call_us(embedding: int, hidden: int, directions: int, steps: int, calls: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    weights = {
        "W": rng.standard_normal((directions, 4 * hidden, embedding)).astype(np.float32) * 0.05,
        "R": rng.standard_normal((directions, 4 * hidden, hidden)).astype(np.float32) * 0.05,
        "B": np.zeros((directions, 8 * hidden), np.float32),
    }
    node = helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden,
                            direction="bidirectional" if directions == 2 else "forward")
    graph = helper.make_graph([node], "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 1, embedding])],
                              [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), _options(), providers=["CPUExecutionProvider"])
    feed = {"x": rng.random((steps, 1, embedding), dtype=np.float32)}
    for _ in range(min(calls, 200)):
        session.run(None, feed)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            session.run(None, feed)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="directory with SST-2 test.tsv (and train.tsv for the vocabulary)")
    parser.add_argument("--embedding-dim", type=int, default=350)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="50 sentences, 50 calls x 2 repeats per LSTM shape")
    args = parser.parse_args()
    args.num_layers, args.pooling, args.encoder = 1, "last", "padded"
    torch.set_num_threads(1)

    sst2, texts = sst2_test_texts(args.data_dir)
    texts = texts[:50] if args.quick else texts
    source = random_source(sst2, texts, args)
    print(f"random E{args.embedding_dim} H{args.hidden_size} biLSTM, {len(texts)} SST-2 test sentences one at a time, one thread; "
          f"onnxruntime {ort.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        for exporter in ("direct", "torchscript"):
            bundle = write_bundle(source, Path(tmp) / exporter, exporter=exporter)
            ids = Classifier.load(bundle, threads=1).encode(texts).ids
            feeds = [{"input_ids": np.array([row], np.int64), "lengths": np.array([len(row)], np.int64)} for row in ids]
            nodes, by_op = profile_graph(bundle / "model.onnx", feeds)
            total = sum(by_op.values())
            print(f"\n{exporter} graph: {nodes} nodes; profiled kernel time {total:.1f} µs per sentence")
            for op, us in by_op.items():
                print(f"  {op:<16} {us:8.1f} µs  {100 * us / total:5.1f}%")
    calls, repeats = (50, 2) if args.quick else (500, 5)
    print(f"\nthe LSTM op alone (random weights, the same input; best of {repeats} x {calls} calls):")
    print(f"{'E':>5} {'H':>5} {'directions':>10} {'steps':>6} {'µs per call':>12}")
    for embedding, hidden, directions, steps in LSTM_SHAPES:
        print(f"{embedding:>5} {hidden:>5} {directions:>10} {steps:>6} {lstm_call_us(embedding, hidden, directions, steps, calls, repeats):>12.1f}")


if __name__ == "__main__":
    main()
