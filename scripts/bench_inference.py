"""Sentences per second and latency per sentence (p50/p99): eager torch vs the exported ONNX bundles (exact and int8), at batch 1 and batch 256, in one run.

    python scripts/bench_inference.py                       # SST-2 test, E350 H128 BiLSTM (the default recipe's shape), 1 thread
    python scripts/bench_inference.py --threads 2 --checkpoint logs/runs/sst2/.../checkpoints/last.ckpt

Both sides start from raw text and end with probabilities: tokenise (the same tokenizer.json),
pad, run the model, softmax. Eager torch runs the checkpoint's model as training built it
(``--encoder``, default padded) under ``torch.inference_mode``; the bundles run through
``bilstm_clf.serving.runtime.Classifier``: the exact (float) bundle that export writes by default and
the ``--quantize int8`` one, whose probability differences and changed labels are printed too. Both use the same number of threads. Repeats are
interleaved (torch, onnx, torch, onnx, ...) so a busy machine slows both alike; the median is
reported, with the 50th and 99th percentiles of the time per sentence over every call of every
repeat (at batch 1: one call per sentence). Without ``--checkpoint`` the model is randomly
initialised (speed does not depend on the weights), its vocabulary built from ``train.tsv`` beside
``test.tsv``, or from the test sentences when there is none.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bilstm_clf.data.download import find_benchmark_file  # noqa: E402
from bilstm_clf.data.readers import read_examples  # noqa: E402
from bilstm_clf.data.tokenizer import Tokenizer  # noqa: E402
from bilstm_clf.common.errors import exit_on_user_error  # noqa: E402
from bilstm_clf.common.bundle import library_versions  # noqa: E402
from bilstm_clf.exporting.bundle_writer import ExportSource, source_from_checkpoint, write_bundle  # noqa: E402
from bilstm_clf.exporting.onnx_export import EXPORTERS  # noqa: E402
from bilstm_clf.serving.runtime import ROWS_PER_RUN, Classifier  # noqa: E402
from bilstm_clf.models import BiLSTMClassifier  # noqa: E402


def sst2_test_texts(data_dir: str | None) -> tuple[Path, list[str]]:
    """The SST-2 folder (``data_dir``, else data/ or the mirror) and its test sentences."""
    explicit = Path(data_dir) / "test.tsv" if data_dir else None
    sst2 = find_benchmark_file(Path("sst2") / "test.tsv", ROOT, explicit, hint="pass --data-dir").parent
    return sst2, [ex.text for ex in read_examples(sst2 / "test.tsv", format="tsv", text_field="sentence", label_field="label")]


def random_source(sst2: Path, texts: list[str], args) -> ExportSource:
    if (sst2 / "train.tsv").is_file():
        texts = [ex.text for ex in read_examples(sst2 / "train.tsv", format="tsv", text_field="sentence", label_field="label")]
    encoder = Tokenizer.build(texts, lowercase=True, style="whitespace", max_length=200)
    torch.manual_seed(0)
    config = dict(vocab_size=encoder.vocab_size, num_classes=2, embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
                  num_layers=args.num_layers, bidirectional=True, pooling=args.pooling, encoder=args.encoder)
    model = BiLSTMClassifier(**config)
    return ExportSource(model.state_dict(), config, ["0", "1"], encoder.to_json(), {"path": None, "note": "random init (benchmark)"})


class EagerTorch:
    def __init__(self, source: ExportSource, encoder_kind: str):
        self.model = BiLSTMClassifier(**{**source.model_config, "encoder": encoder_kind}).eval()
        self.model.load_state_dict(source.state_dict)
        self.tokenizer = Tokenizer.from_json(source.tokenizer_json)
        # a calibrated checkpoint's bundle divides the logits by its temperature: so does this side
        self.temperature = float((source.calibration or {}).get("temperature") or 1.0)

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.run(self.tokenizer.encode_batch(texts))

    def run(self, ids: list[list[int]]) -> np.ndarray:
        lengths = torch.tensor([len(r) for r in ids])
        batch = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
        for i, row in enumerate(ids):
            batch[i, : len(row)] = torch.tensor(row)
        with torch.inference_mode():
            return torch.softmax(self.model(batch, lengths) / self.temperature, dim=-1).numpy()

    def sliced(self, texts: list[str]) -> np.ndarray:
        """The bundle runtime's batching in torch: sort by length, run ROWS_PER_RUN rows at a time."""
        ids = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.model.head.out_features), np.float32)
        for start in range(0, len(ids), ROWS_PER_RUN):
            chunk = order[start : start + ROWS_PER_RUN]
            out[chunk] = self.run([ids[i] for i in chunk])
        return out


def timed_calls(predict, texts: list[str], batch_size: int) -> tuple[float, list[float]]:
    """Sentences per second over ``texts``, and the time per sentence of every call."""
    per_sentence = []
    clock = time.perf_counter
    started = clock()
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        t0 = clock()
        predict(chunk)
        per_sentence.append((clock() - t0) / len(chunk))
    return len(texts) / (clock() - started), per_sentence


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="directory with SST-2 train.tsv and test.tsv")
    parser.add_argument("--checkpoint", help="benchmark this checkpoint instead of a random E/H model")
    # the default recipe's shape: GloVe 50d + spaCy 300d vectors (configs/embeddings/auto.yaml), H 128
    parser.add_argument("--embedding-dim", type=int, default=350)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--pooling", default="last")
    parser.add_argument("--encoder", default="padded", help="eager torch encoder: padded (training default) or packed")
    parser.add_argument("--exporter", default="auto", choices=EXPORTERS)
    parser.add_argument("--threads", type=int, default=1, help="threads for torch and onnxruntime alike (default 1)")
    parser.add_argument("--batch-sizes", default="1,256")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, help="only the first N test sentences (smoke tests)")
    args = parser.parse_args()

    sst2, texts = sst2_test_texts(args.data_dir)
    texts = texts[: args.limit] if args.limit else texts
    source = source_from_checkpoint(args.checkpoint) if args.checkpoint else random_source(sst2, texts, args)
    torch.set_num_threads(args.threads)
    eager = EagerTorch(source, args.encoder)

    with tempfile.TemporaryDirectory() as tmp:
        bundle = write_bundle(source, Path(tmp) / "bundle", exporter=args.exporter)
        bundle_int8 = write_bundle(source, Path(tmp) / "bundle-int8", exporter=args.exporter, quantize="int8")
        classifier = Classifier.load(bundle, threads=args.threads)
        classifier_int8 = Classifier.load(bundle_int8, threads=args.threads)
        exporter = classifier.metadata["onnx"]["exporter"]
        onnx_mb = (bundle / "model.onnx").stat().st_size / 1e6
        int8_mb = (bundle_int8 / "model.onnx").stat().st_size / 1e6

        reference = eager(texts)
        max_diff = float(np.abs(reference - classifier.predict_proba(texts)).max())
        int8_probabilities = classifier_int8.predict_proba(texts)
        int8_diff = float(np.abs(reference - int8_probabilities).max())
        int8_changed = int((reference.argmax(1) != int8_probabilities.argmax(1)).sum())
        load_before = os.getloadavg()
        results = {}
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            engines = {"torch": eager, "onnx": classifier.predict_proba, "int8": classifier_int8.predict_proba}
            if batch_size > ROWS_PER_RUN:
                engines["torch_sliced"] = eager.sliced
            for engine in engines.values():  # warm-up: first calls allocate
                timed_calls(engine, texts[: max(batch_size * 2, 32)], batch_size)
            runs: dict[str, list[float]] = {name: [] for name in engines}
            latencies: dict[str, list[float]] = {name: [] for name in engines}
            for _ in range(args.repeats):
                for name, engine in engines.items():
                    rate, per_sentence = timed_calls(engine, texts, batch_size)
                    runs[name].append(rate)
                    latencies[name] += per_sentence
            results[batch_size] = {k: statistics.median(v) for k, v in runs.items()}
            results[batch_size]["latency"] = {k: (percentile(v, 50), percentile(v, 99)) for k, v in latencies.items()}
        load_after = os.getloadavg()

    cfg = source.model_config
    versions = library_versions()
    print(f"SST-2 test: {len(texts)} sentences from {sst2}")
    print(f"model: E{cfg['embedding_dim']} H{cfg['hidden_size']} layers {cfg.get('num_layers', 1)} "
          f"{'bi' if cfg.get('bidirectional', True) else 'uni'}LSTM, pooling {cfg.get('pooling', 'last')}, vocab {cfg['vocab_size']}; "
          f"eager encoder {args.encoder}; bundle: {exporter} exporter, model.onnx {onnx_mb:.1f} MB (int8: {int8_mb:.1f} MB)")
    print(f"threads {args.threads}; torch {versions['torch']}, onnxruntime {versions['onnxruntime']}, python {versions['python']}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs")
    print(f"load average (1/5/15 min) before {'/'.join(f'{x:.2f}' for x in load_before)}, after {'/'.join(f'{x:.2f}' for x in load_after)}")
    print(f"max |p_torch - p_onnx| over the test set: {max_diff:.2e} (exact bundle); int8 bundle: {int8_diff:.2e}, "
          f"{int8_changed} of {len(texts)} predicted labels differ from torch's")
    print(f"median of {args.repeats} interleaved runs over all {len(texts)} sentences:")
    print(f"{'batch':>6}  {'eager torch (sent/s)':>21}  {'ONNX bundle (sent/s)':>21}  {'bundle / eager':>14}  "
          f"{'int8 bundle (sent/s)':>21}  {'int8 / eager':>12}  {'eager, sorted ' + str(ROWS_PER_RUN) + '-row slices':>28}")
    for batch_size, r in results.items():
        sliced = f"{r['torch_sliced']:>28,.0f}" if "torch_sliced" in r else f"{'-':>28}"
        print(f"{batch_size:>6}  {r['torch']:>21,.0f}  {r['onnx']:>21,.0f}  {r['onnx'] / r['torch']:>13.2f}x  "
              f"{r['int8']:>21,.0f}  {r['int8'] / r['torch']:>11.2f}x  {sliced}")
    print(f"(the bundle runtime sorts a batch by length and runs it {ROWS_PER_RUN} rows at a time; the last column "
          "gives eager torch the same batching)")
    print("latency per sentence, ms (p50 / p99 over every call of every repeat; a call's time divided by its sentences):")
    print(f"{'batch':>6}  {'eager torch':>17}  {'ONNX bundle':>17}  {'int8 bundle':>17}  {'p50 bundle / eager':>18}")
    for batch_size, r in results.items():
        lat = r["latency"]
        cells = "  ".join(f"{lat[k][0] * 1e3:>7.3f} / {lat[k][1] * 1e3:>7.3f}" for k in ("torch", "onnx", "int8"))
        print(f"{batch_size:>6}  {cells}  {lat['torch'][0] / lat['onnx'][0]:>17.2f}x")


if __name__ == "__main__":
    main()
