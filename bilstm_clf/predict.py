"""Classify texts with an exported bundle, without torch: ``python -m bilstm_clf.predict --bundle DIR``.

Input: texts as arguments; ``--input FILE`` (txt: one text per line; csv/tsv/jsonl: the column
or key named by ``--text-field``); or standard input (``--input -``, or piped with no texts).
Output: one JSON object per input record (``--format jsonl``, default) or an aligned table.

The input is read lazily and classified ``--batch-size`` records at a time, with output flushed
after every batch, so memory stays bounded on inputs of any length, and no physical line is held
beyond ``max_chars`` characters (longer lines are cut while reading).

Each record gets ``index`` (0-based), ``line`` (1-based physical line, for file/stdin input),
``label`` (multi-label bundles: ``labels``, the list of labels at or above their thresholds,
possibly empty) and ``probabilities`` (every label's); with ``--top-k K``, ``top_k``: the K most
probable labels and their probabilities, best first; plus, when they apply:

- ``"empty": true`` with ``label``/``probabilities`` null: the text has no tokens (an empty or
  whitespace-only line, or only characters the tokenizer drops);
- ``"truncated": true``: the model saw only the first ``max_chars`` characters or the first
  ``max_length`` tokens (as in training);
- ``"error": "..."`` with ``label``/``probabilities`` null: the record could not be read (a line
  that is not valid in ``--encoding``, malformed JSON, a missing field). Reading goes on; the
  first few problems are also reported on stderr as ``file:line: problem``, and the exit status is 1.

Exit status: 0 all records classified (or empty); 1 some records had errors; 2 unusable bundle,
input file or arguments (one line on stderr).
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from bilstm_clf.common.errors import DataError, UserError, exit_on_user_error
from bilstm_clf.common.file_checks import refuse_compressed, regular_file
from bilstm_clf.data.formats import PREDICT_FORMATS, predict_format
from bilstm_clf.data.records import LineReader, Record, argument_records
from bilstm_clf.serving.runtime import Classifier

INPUT_FORMATS = PREDICT_FORMATS
OUTPUT_FORMATS = ("jsonl", "table")
MAX_THREADS = max(1, os.cpu_count() or 1)  # more intra-op threads than CPUs only slow onnxruntime down
REPORTED_PROBLEMS = 5  # per run on stderr; every bad record also carries its "error" in the output


# --- writing ----------------------------------------------------------------------------------
def _record_dict(record: Record, prediction, multi_label: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"index": record.index}
    if record.line is not None:
        out["line"] = record.line
    if record.error is not None:
        out.update({"labels" if multi_label else "label": None, "probabilities": None, "error": record.error})
        return out
    out.update(prediction.to_dict())
    if record.cut:
        out["truncated"] = True
    return out


class TableWriter:
    def __init__(self, out: TextIO, labels: list[str]):
        self.out = out
        self.labels = labels
        self.width = max(8, *(len(label) + 3 for label in labels))
        header = f"{'line':>7}  {'label':<{self.width}}" + "".join(f"  {'p(' + label + ')':>{self.width}}" for label in labels) + "  text"
        out.write(header + "\n")

    def write(self, record: Record, result: dict[str, Any]) -> None:
        where = result.get("line", result["index"] + 1)
        label = result.get("label")
        if "labels" in result and result["labels"] is not None:
            label = "|".join(result["labels"]) or "(none)"
        if label is None:
            label = "(error)" if "error" in result else "(empty)"
        probabilities = result["probabilities"] or {}
        cells = "".join(f"  {probabilities[lb]:>{self.width}.4f}" if lb in probabilities else f"  {'-':>{self.width}}" for lb in self.labels)
        text = result.get("error") or (record.text or "")
        text = " ".join(text.split())
        text = text if len(text) <= 60 else text[:57] + "..."
        self.out.write(f"{where:>7}  {label:<{self.width}}{cells}  {text}\n")


def run(classifier: Classifier, records: Iterable[Record], out: TextIO, *, batch_size: int, fmt: str, source: str, top_k: int | None = None) -> tuple[int, int]:
    """Classify ``records`` batch by batch, writing each batch before reading the next.
    Returns (records written, records with errors)."""
    table = TableWriter(out, classifier.labels) if fmt == "table" else None
    written = failed = 0
    batch: list[Record] = []

    def flush() -> None:
        nonlocal written, failed
        good = [r for r in batch if r.error is None]
        predictions = iter(classifier.predict([r.text for r in good], top_k=top_k))
        for record in batch:
            result = _record_dict(record, next(predictions) if record.error is None else None, classifier.multi_label)
            if record.error is not None:
                failed += 1
                if failed <= REPORTED_PROBLEMS:
                    where = f"{source}:{record.line}" if record.line is not None else f"{source}[{record.index}]"
                    print(f"warning: {where}: {record.error}", file=sys.stderr)
            if table is not None:
                table.write(record, result)
            else:
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
            written += 1
        out.flush()
        batch.clear()

    for record in records:
        batch.append(record)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return written, failed


# --- CLI --------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bilstm_clf.predict",
        description="Classify texts with an exported bundle (no torch needed).",
        epilog="Examples: predict --bundle B 'a fine film' | predict --bundle B --input reviews.csv --text-field review "
        "| cat texts.txt | predict --bundle B --format table",
    )
    parser.add_argument("texts", nargs="*", help="texts to classify (otherwise --input, or standard input)")
    parser.add_argument("--bundle", "-b", required=True, help="bundle directory written by bilstm_clf.export")
    parser.add_argument("--input", "-i", help="file to classify, '-' for standard input")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, help="default: from the suffix (.txt .csv .tsv .jsonl); txt for stdin")
    parser.add_argument("--text-field", help="csv/tsv column name (or 0-based index) or JSONL key holding the text (default: the training data's, else 'text')")
    parser.add_argument("--no-header", action="store_true", help="csv/tsv input has no header row")
    parser.add_argument("--encoding", default="utf-8", help="input encoding, ASCII-compatible (default utf-8)")
    parser.add_argument("--format", "-f", choices=OUTPUT_FORMATS, default="jsonl", help="output format (default jsonl)")
    parser.add_argument("--batch-size", type=int, default=256, help="records classified at a time (default 256)")
    parser.add_argument("--top-k", type=int, default=None, metavar="K",
                        help="also list the K most probable labels with their probabilities, best first (top_k)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: onnxruntime's choice)")
    return parser.parse_args(argv)


def _check_encoding(encoding: str) -> None:
    """Lines are split on the byte 0x0a before decoding, so the encoding must write ASCII as ASCII
    (utf-8, latin-1, cp1252, ...); UTF-16/32 files must be converted first."""
    try:
        codecs.lookup(encoding)
        compatible = "a\n".encode(encoding) == b"a\n"
    except LookupError:
        raise UserError(f"--encoding {encoding!r}: unknown encoding") from None
    if not compatible:
        raise UserError(
            f"--encoding {encoding!r}: predict reads line by line and needs an ASCII-compatible encoding "
            f"(utf-8, latin-1, cp1252, ...); convert the file first, e.g. iconv -f {encoding} -t utf-8"
        )


def _open_input(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    p = Path(path)
    regular_file(p)  # a FIFO would block here, /dev/zero never end
    try:
        stream = open(p, "rb")
    except OSError as err:
        raise DataError(p, f"cannot open: {err.strerror}") from None
    refuse_compressed(p, stream.peek(8)[:8])
    return stream


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be a positive integer")
    if args.top_k is not None and args.top_k < 1:
        raise UserError(f"--top-k {args.top_k}: must be a positive integer")
    _check_encoding(args.encoding)
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        # each thread is an OS thread with its own arena: 100,000 of them exhaust the machine
        raise UserError(f"--threads {args.threads}: must be between 1 and {MAX_THREADS} (this machine's CPUs: {os.cpu_count()})")
    if args.texts and args.input:
        raise UserError("give texts as arguments or --input, not both")
    source = args.input if args.input else ("<stdin>" if not args.texts else "<args>")
    if not args.texts and not args.input:
        if sys.stdin is None or sys.stdin.isatty():
            raise UserError("nothing to classify: give texts as arguments, --input FILE, or pipe texts to standard input")
        args.input = "-"
    fmt = predict_format(args.input, args.input_format) if args.input else None
    stream = _open_input(args.input) if args.input else None  # before the bundle: a typo fails fast

    classifier = Classifier.load(args.bundle, threads=args.threads)
    max_chars = classifier.max_chars
    text_field = args.text_field or (classifier.metadata.get("inference") or {}).get("text_field") or "text"
    text_field = str(text_field)
    if stream is None:
        records: Iterable[Record] = argument_records(args.texts, max_chars)
    else:
        lines = LineReader(stream, args.encoding, max_chars)
        records = fmt.read_records(lines, source, fmt.name, text_field, not args.no_header)

    out = sys.stdout
    if hasattr(out, "reconfigure"):
        out.reconfigure(encoding="utf-8")  # JSON lines are UTF-8 whatever the locale
    try:
        written, failed = run(classifier, records, out, batch_size=args.batch_size, fmt=args.format, source=source, top_k=args.top_k)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as shell tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None
    finally:
        if stream is not None and stream is not sys.stdin.buffer:
            stream.close()
    if failed:
        print(f"warning: {failed} of {written} records could not be read (see their \"error\" fields)", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
