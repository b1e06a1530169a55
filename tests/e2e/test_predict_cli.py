"""``python -m bilstm_clf.predict``, run as users run it."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys

import pytest

from bilstm_clf.exporting.bundle_writer import export_bundle
from bilstm_clf.serving.runtime import Classifier
from tests.conftest import ROOT
from tests.export_helpers import save_checkpoint, tiny_encoder

LABELS = ["neg", "pos"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    checkpoint, _ = save_checkpoint(root / "model.ckpt", tiny_encoder(max_length=12), LABELS, seed=5)
    return export_bundle(checkpoint, root / "bundle")


@pytest.fixture(scope="module")
def classifier(bundle):
    return Classifier.load(bundle)


def predict(args, stdin: bytes | None = None, timeout: int = 120):
    return subprocess.run(
        [sys.executable, "-m", "bilstm_clf.predict", *map(str, args)],
        cwd=ROOT, input=stdin, capture_output=True, timeout=timeout,
    )


def records(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]


def expected_labels(classifier, texts):
    return [p.label for p in classifier.predict(texts)]


def test_texts_as_arguments_give_json_lines(bundle, classifier):
    result = predict(["--bundle", bundle, "i loved it", "a dull , boring mess", "  "])
    assert result.returncode == 0, result.stderr.decode()
    rows = records(result)
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert [r["label"] for r in rows] == expected_labels(classifier, ["i loved it", "a dull , boring mess", "  "])
    assert set(rows[0]["probabilities"]) == set(LABELS)
    assert rows[2] == {"index": 2, "label": None, "probabilities": None, "empty": True}


def test_txt_file_with_blank_undecodable_and_huge_lines(bundle, classifier, tmp_path):
    lines = [b"i loved it", b"", b"   ", b"\xff\xfe not utf-8", b"great " * 40_000, "caf\u00e9 awful".encode()]
    path = tmp_path / "texts.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = predict(["--bundle", bundle, "--input", path])
    assert result.returncode == 1  # one record could not be read; all the others were classified
    rows = records(result)
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0]["label"] == expected_labels(classifier, ["i loved it"])[0]
    assert rows[1]["empty"] and rows[2]["empty"] and rows[1]["label"] is None
    assert rows[3] == {"index": 3, "line": 4, "label": None, "probabilities": None, "error": "not valid utf-8: byte 0xff at column 1"}
    assert rows[4]["truncated"] and rows[4]["label"] in LABELS
    assert rows[5]["label"] == expected_labels(classifier, ["caf\u00e9 awful"])[0]
    stderr = result.stderr.decode()
    assert f"{path}:4: not valid utf-8" in stderr and "Traceback" not in stderr
    assert "1 of 6 records could not be read" in stderr


def test_other_encodings_are_read_when_named(bundle, tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("caf\u00e9 awful\n".encode("latin-1"))
    assert predict(["--bundle", bundle, "--input", path]).returncode == 1
    result = predict(["--bundle", bundle, "--input", path, "--encoding", "latin-1"])
    assert result.returncode == 0 and records(result)[0]["label"] in LABELS


def test_csv_tsv_and_jsonl_with_named_fields(bundle, classifier, tmp_path):
    (tmp_path / "in.csv").write_text('id,review\n1,i loved it\n2,"a dull, boring\nmess"\n3\n', encoding="utf-8")
    result = predict(["--bundle", bundle, "--input", tmp_path / "in.csv", "--text-field", "review"])
    rows = records(result)
    assert [r["line"] for r in rows] == [2, 4, 5]
    assert [r["label"] for r in rows[:2]] == expected_labels(classifier, ["i loved it", "a dull, boring\nmess"])
    assert rows[2]["error"] == "expected at least 2 fields, found 1" and result.returncode == 1

    (tmp_path / "in.tsv").write_text('sentence\tlabel\n"i loved it\t1\n\t0\n', encoding="utf-8")
    rows = records(predict(["--bundle", bundle, "--input", tmp_path / "in.tsv", "--text-field", "sentence"]))
    assert rows[0]["label"] == expected_labels(classifier, ['"i loved it'])[0] and rows[1]["empty"]

    (tmp_path / "in.jsonl").write_text('{"text": "i loved it"}\n\n{"text": 3}\nnot json\n{"body": "x"}\n', encoding="utf-8")
    result = predict(["--bundle", bundle, "--input", tmp_path / "in.jsonl"])
    rows = records(result)
    assert [r["line"] for r in rows] == [1, 3, 4, 5]
    assert rows[0]["label"] == expected_labels(classifier, ["i loved it"])[0]
    assert [r.get("error", "").split(":")[0] for r in rows[1:]] == ["text 'text' is int, expected a string", "invalid JSON", "no text key 'text'"]


def test_a_named_column_that_is_missing_is_one_line_and_exit_2(bundle, tmp_path):
    (tmp_path / "in.csv").write_text("id,review\n1,fine\n", encoding="utf-8")
    result = predict(["--bundle", bundle, "--input", tmp_path / "in.csv", "--text-field", "text"])
    assert result.returncode == 2
    assert result.stderr.decode().strip() == f"error: {tmp_path / 'in.csv'}:1: no text column 'text'; columns found: 'id', 'review' (set --text-field)"


def test_lone_surrogates_from_json_and_undecodable_arguments_are_classified(bundle, classifier, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "i loved \\ud800 it"}\n', encoding="utf-8")
    rows = records(predict(["--bundle", bundle, "--input", tmp_path / "in.jsonl"]))
    assert rows[0]["label"] == expected_labels(classifier, ["i loved \ufffd it"])[0]
    result = subprocess.run(  # argv bytes that are not UTF-8 reach Python as lone surrogates
        [sys.executable.encode(), b"-m", b"bilstm_clf.predict", b"--bundle", str(bundle).encode(), b"i loved \xff it"],
        cwd=ROOT, capture_output=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert records(result)[0]["label"] == expected_labels(classifier, ["i loved \ufffd it"])[0]


def test_table_format(bundle):
    result = predict(["--bundle", bundle, "--format", "table", "i loved it", ""])
    lines = result.stdout.decode().splitlines()
    assert lines[0].split() == ["line", "label", "p(neg)", "p(pos)", "text"]
    assert lines[1].split()[0] == "1" and lines[1].split()[1] in LABELS and lines[1].endswith("i loved it")
    assert lines[2].split()[:2] == ["2", "(empty)"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bundle", "/nonexistent/bundle", "x"], "error: /nonexistent/bundle: not a bundle directory (not found)"),
        (["--bundle", "{bundle}", "--input", "/nonexistent/in.txt"], "error: /nonexistent/in.txt: file not found"),
        (["--bundle", "{bundle}", "--input", "in.xml"], "error: in.xml: cannot tell the format from the suffix 'xml'; pass --input-format txt|csv|tsv|jsonl"),
        (["--bundle", "{bundle}", "--batch-size", "0", "x"], "error: --batch-size 0: must be a positive integer"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(bundle, args, message):
    result = predict([a.format(bundle=bundle) for a in args])
    assert result.returncode == 2
    assert result.stderr.decode().strip() == message


def test_stdin_is_streamed_batch_by_batch(bundle, classifier):
    """The answer to the first line arrives while standard input is still open: nothing waits
    for the whole input, which is what keeps memory bounded on inputs of any length."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bilstm_clf.predict", "--bundle", str(bundle), "--batch-size", "2"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        process.stdin.write(b"i loved it\na dull , boring mess\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "no output while the input stayed open"
        first = json.loads(process.stdout.readline())
        assert first["line"] == 1 and first["label"] == expected_labels(classifier, ["i loved it"])[0]
        process.stdin.write(b"awful\n")
        process.stdin.close()
        rest = [json.loads(line) for line in process.stdout.read().splitlines()]
        assert [r["line"] for r in rest] == [2, 3]
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads peak memory from Linux /proc")
def test_many_lines_in_bounded_memory(bundle, tmp_path):
    """100,000 lines through 256-line batches: peak memory grows far less than holding all
    results (100,000 dicts, ~50 MB) would take (the child's peak RSS, KiB)."""
    line = b"i loved it , great fun\n"
    path = tmp_path / "many.txt"
    path.write_bytes(line * 100_000)
    # VmHWM, not ru_maxrss: the latter carries the parent's (pytest's) peak across fork + exec.
    wrapper = (
        "import re, runpy, sys\n"
        "try:\n    runpy.run_module('bilstm_clf.predict', run_name='__main__')\n"
        "finally:\n    print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1), file=sys.stderr)\n"
    )
    small = tmp_path / "few.txt"
    small.write_bytes(line * 1000)
    rss = {}
    for name, source in (("few", small), ("many", path)):
        with open(os.devnull, "wb") as sink:
            result = subprocess.run(
                [sys.executable, "-c", wrapper, "--bundle", str(bundle), "--input", str(source), "--batch-size", "256"],
                cwd=ROOT, stdout=sink, stderr=subprocess.PIPE, timeout=300,
            )
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        rss[name] = int(result.stderr.decode().strip().splitlines()[-1])
    assert rss["many"] - rss["few"] < 10_000  # < 10 MiB more for 100x the lines
