"""scripts/bench_accuracy.py: identical, deterministic splits; macro-F1; the missing-fastText error.

Loads the script by path and uses none of bilstm_clf: it must keep working while the package moves.
"""

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_accuracy.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_accuracy_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_rows(counts: dict[str, int]) -> list[tuple[str, str]]:
    return [(f"Example {label} number {i}, it's \"quoted\"!", label) for label, n in counts.items() for i in range(n)]


def write_tsv(path: Path, rows) -> Path:
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    return path


def test_carve_is_stratified_deterministic_disjoint_and_complete(bench):
    rows = synthetic_rows({"a": 50, "b": 30, "c": 7, "d": 2, "e": 1})
    kept, held = bench.carve(rows)
    assert (kept, held) == bench.carve(list(rows))  # same rows, same seed: same split
    assert bench.carve(rows, seed=7) != (kept, held)
    assert not set(kept) & set(held) and Counter(kept) + Counter(held) == Counter(rows)
    assert Counter(y for _, y in held) == {"a": 5, "b": 3, "c": 1, "d": 1}  # 10% a label, at least 1 of >= 2 rows
    assert kept == [r for r in rows if r in set(kept)] and held == [r for r in rows if r in set(held)]  # order kept


def test_materialise_writes_identical_files_and_carves_what_is_missing(bench, tmp_path):
    train, test = synthetic_rows({"pos": 40, "neg": 20}), synthetic_rows({"pos": 3, "neg": 3})
    first = bench.materialise(train, None, test, tmp_path / "one")
    again = bench.materialise(list(train), None, list(test), tmp_path / "two")
    assert first == again
    for name in ("train", "dev", "test"):
        assert (tmp_path / "one" / f"{name}.tsv").read_bytes() == (tmp_path / "two" / f"{name}.tsv").read_bytes()
    assert first["test"] == test and Counter(first["train"]) + Counter(first["dev"]) == Counter(train)
    assert len(first["dev"]) == 6 and (tmp_path / "one" / "dev.tsv").read_text().startswith("sentence\tlabel\n")
    carved = bench.materialise(train, None, None, tmp_path / "three")  # test carved first, then dev from the rest
    assert Counter(carved["train"]) + Counter(carved["dev"]) + Counter(carved["test"]) == Counter(train)
    assert len(carved["test"]) == 6 and not set(carved["test"]) & set(carved["dev"])


def test_readers_by_suffix(bench, tmp_path):
    (tmp_path / "d.csv").write_text('review,stars\n"good, really",5\nbad,1\n,3\n', encoding="utf-8")
    (tmp_path / "d.jsonl").write_text('{"review": "good\\tone", "stars": 5}\n\n{"review": "bad", "stars": 1}\n', encoding="utf-8")
    assert bench.read_rows(tmp_path / "d.csv", "review", "stars") == [("good, really", "5"), ("bad", "1")]  # empty text dropped
    assert bench.read_rows(tmp_path / "d.jsonl", "review", "stars") == [("good one", "5"), ("bad", "1")]
    assert bench.basic_english('It\'s "Great"; really: (yes)!') == "it ' s great really ( yes ) !"


def test_macro_f1_against_hand_computed_values(bench):
    # class 0: tp 1, fp 1, fn 1 -> 0.5; class 1: tp 2, fp 1 -> 0.8; class 2: fn 1 -> 0
    assert bench.macro_f1([0, 0, 1, 1, 2], [0, 1, 1, 1, 0]) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert bench.macro_f1(["x", "x"], ["x", "y"]) == pytest.approx((2 / 3 + 0) / 2)  # a label only predicted counts
    assert bench.macro_f1([1, 2, 3], [1, 2, 3]) == 1.0


def test_missing_fasttext_is_one_error_line_and_exit_2(bench, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "fasttext", None)  # `import fasttext` now raises ImportError
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--only-fasttext", "--datasets", "trec", "--work-dir", str(tmp_path / "work")])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.rstrip().endswith("pip install fasttext-numpy2-wheel")
    assert len(captured.err.splitlines()) == 1 and "Traceback" not in captured.out + captured.err
    assert not (tmp_path / "work").exists()


def test_only_fasttext_on_a_user_dataset_end_to_end(bench, tmp_path, capsys):
    pytest.importorskip("fasttext", exc_type=ImportError)  # not installed, or a broken wheel
    words = {"pos": "great fun lovely superb", "neg": "dull awful boring bad"}
    rows = [(f"{words[y].split()[i % 4]} film {i}", y) for i in range(60) for y in words]
    train = write_tsv(tmp_path / "train.tsv", rows[:100])
    test = write_tsv(tmp_path / "test.tsv", rows[100:])
    work = tmp_path / "work"
    assert bench.main(["--only-fasttext", "--dataset", f"toy={train},,{test}", "--work-dir", str(work)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("$ python scripts/bench_accuracy.py --only-fasttext") and "| toy | fastText (a) defaults |" in out
    results = json.loads((work / "results.json").read_text())
    systems = {r["system"]: r for r in results["datasets"]["toy"]["systems"]}
    assert results["datasets"]["toy"]["sizes"] == {"train": 90, "dev": 10, "test": 20}
    assert all(0 <= r["test_acc"] <= 1 for r in systems.values() if "test_acc" in r)
    assert systems["fastText best (by test acc)"]["test_acc"] == max(r.get("test_acc", 0) for r in systems.values())
    ft_train = (work / "toy" / "fasttext" / "train.txt").read_text().splitlines()
    tsv_train = (work / "toy" / "data" / "train.tsv").read_text().splitlines()[1:]
    assert [line.split(" ", 1)[1] for line in ft_train] == [bench.basic_english(line.split("\t")[0]) for line in tsv_train]
    assert (work / "results.md").read_text().startswith("$ python scripts/bench_accuracy.py")


def test_config_overrides_name_each_datasets_own_files(bench, tmp_path, monkeypatch):
    """``{dataset}`` in a --config becomes the dataset's name, so per-dataset files (distilled
    vectors) can be named once; Hydra's own braces are left as they are."""
    calls = []
    monkeypatch.setattr(bench, "import_fasttext", lambda: None)
    monkeypatch.setattr(bench, "run_fasttext", lambda *args: [])
    monkeypatch.setattr(bench, "run_ours", lambda name, overrides, *args: calls.append((name, overrides)) or {"system": f"ours: {name}"})
    rows = synthetic_rows({"a": 20, "b": 20})
    for name in ("toy", "other"):
        write_tsv(tmp_path / f"{name}.tsv", rows)
    config = "distilled=experiment=distilled embeddings.path=vec/{dataset}/vectors.npy 'embeddings.parts=[{source:npy}]'"
    assert bench.main(["--dataset", f"toy={tmp_path / 'toy.tsv'}", "--dataset", f"other={tmp_path / 'other.tsv'}", "--config", config,
                       "--work-dir", str(tmp_path / "work")]) == 0
    assert calls == [("default", []), ("distilled", ["experiment=distilled", "embeddings.path=vec/toy/vectors.npy", "embeddings.parts=[{source:npy}]"]),
                     ("default", []), ("distilled", ["experiment=distilled", "embeddings.path=vec/other/vectors.npy", "embeddings.parts=[{source:npy}]"])]
