"""Issue 14's corpus through the real entry points: train (tests/cli_driver.py, one interpreter),
predict and export (their ``main(argv)``). Every case: one ``error:`` line naming the file or
key, exit 2, no traceback. Then the valid look-alikes must train to the right result."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import ROOT, run_cli
from tests.e2e.test_bad_inputs_cli import TINY, _problems
from tests.reliability_cases import EXPORT_CASES, PREDICT_CASES, TRAIN_CASES, make_data


def _base(data, run_dir) -> list[str]:
    return [*TINY, "logger=none", "data=custom", f"data.data_dir={data}", "data.train_file=train.tsv", "data.val_file=dev.tsv",
            "data.test_file=null", f"hydra.run.dir={run_dir}"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(data dir, files dir, good run dir, results by id, root): one interpreter runs the good
    run, makes the damaged files from it, then every train case and the valid look-alikes."""
    root = tmp_path_factory.mktemp("reliability")
    data, files, run = root / "data", root / "files", root / "runs" / "good"
    make_data(data)
    # valid look-alikes: numeric labels spelt several ways are one class, in CSV and JSONL alike
    (data / "numeric.csv").write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in [
        ("i loved it", "1"), ("superb and funny", "01"), ("a joy to watch", "1.0"), ("great story", "+1"),
        ("i hated it", "0"), ("awful and tedious", "0.0"), ("a waste of time", "00"), ("a dull mess", "-0")] * 3))
    (data / "numeric.jsonl").write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in [
        ("i loved it", 1), ("superb and funny", 1.0), ("a joy to watch", "1.0"), ("great story", "01"),
        ("i hated it", 0), ("awful and tedious", 0.0), ("a waste of time", "0"), ("a dull mess", " 0 ")] * 3))
    valid = {
        "numeric_csv": ["data.train_file=numeric.csv", "data.val_file=null", "export.enabled=false"],
        "numeric_jsonl": ["data.train_file=numeric.jsonl", "data.val_file=null", "export.enabled=false"],
    }
    jobs = [{"id": "good", "argv": _base(data, run)},
            {"id": "make_files", "call": "tests.reliability_cases:make_files", "args": [str(files), str(run)]}]
    jobs += [{"id": cid, "argv": [*_base(data, root / "runs" / cid), *extra]} for cid, extra in valid.items()]
    for cid, (overrides, _) in TRAIN_CASES.items():
        argv = [o.format(d=data, f=files, run=run) for o in overrides]
        jobs.append({"id": cid, "argv": [*_base(data, root / "case_runs" / cid), *argv]})
    small = root / "small"
    if _small_disk(small):  # a real full disk, where this machine lets us mount a 1 MiB tmpfs
        jobs.append({"id": "disk_full", "argv": _base(data, small / "run")})
    spec, out = root / "jobs.json", root / "results.json"
    spec.write_text(json.dumps(jobs))
    try:
        driver = run_cli([str(ROOT / "tests" / "cli_driver.py"), str(spec), str(out)], cwd=ROOT, timeout=600)
        assert driver.returncode == 0, driver.stderr[-3000:]
        results = {r["id"]: r for r in json.loads(out.read_text())}
        if "disk_full" in results:
            results["disk_full"]["left"] = sorted(str(p.relative_to(small)) for p in small.rglob("*") if p.is_file())
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)
    for cid in ("good", "make_files"):
        assert results[cid]["exit"] == 0 and not results[cid]["exception"], (cid, results[cid]["exception"], results[cid]["stderr"][-3000:])
    return data, files, run, results, root


def _small_disk(path) -> bool:
    """A 1 MiB tmpfs at ``path`` with 60 KiB left: the run's first checkpoint does not fit."""
    path.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True).returncode:
        return False
    (path / "filler").write_bytes(b"\0" * ((1024 - 60) * 1024))
    return True


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_half_file(corpus):
    results = corpus[3]
    if "disk_full" not in results:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    r = results["disk_full"]
    assert not _problems(r["exit"], r["stdout"], r["stderr"], r["exception"], r"small/run/\S+: cannot write: .*(No space left on device|the disk is full)"), r["stderr"]
    assert not [name for name in r["left"] if name.endswith((".tmp", ".ckpt"))], r["left"]


def test_valid_look_alikes_train_to_the_right_classes(corpus):
    _, _, _, results, root = corpus
    for cid in ("numeric_csv", "numeric_jsonl"):
        r = results[cid]
        assert r["exit"] == 0 and not r["exception"], (cid, r["stderr"][-2000:])
        assert json.loads((root / "runs" / cid / "labels.json").read_text()) == ["0", "1"], cid


def test_every_train_case_is_one_line_exit_2_and_no_traceback(corpus):
    _, files, _, results, root = corpus
    failures = []
    for cid, (_, regex) in TRAIN_CASES.items():
        r = results[cid]
        if problems := _problems(r["exit"], r["stdout"], r["stderr"], r["exception"], regex):
            failures.append(f"{cid}: {', '.join(problems)}\n    stderr: {r['stderr'][-800:]!r}")
    assert not failures, "\n".join(failures)
    assert not (files / "pwned").exists(), "a pickle payload ran"
    # a failed end-of-training export: the summary says so too; a diverged run keeps no checkpoint
    assert "bundle:      NOT WRITTEN: " in results["export_dir_unwritable"]["stdout"]
    assert not list((root / "case_runs" / "divergence_exploded_loss" / "checkpoints").glob("epoch*.ckpt"))


def _call(main, argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        status = 0
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("cid", sorted(PREDICT_CASES))
def test_every_predict_case_is_one_line_exit_2(corpus, cid, capsys):
    from bilstm_clf import predict

    _, files, run, _, _ = corpus
    arguments, regex = PREDICT_CASES[cid]
    status, out, err = _call(predict.main, [a.format(b=run / "bundle", f=files) for a in arguments], capsys)
    assert not _problems(status, out, err, None, regex), (status, err)


@pytest.mark.parametrize("cid", sorted(EXPORT_CASES))
def test_every_export_case_is_one_line_exit_2(corpus, cid, capsys, tmp_path):
    from bilstm_clf import export

    data, files, _, _, _ = corpus
    arguments, regex = EXPORT_CASES[cid]
    status, out, err = _call(export.main, [a.format(d=data, f=files, out=tmp_path / "bundle") for a in arguments], capsys)
    assert not _problems(status, out, err, None, regex), (status, err)
    assert not (tmp_path / "bundle").exists()


def test_an_error_after_fit_starts_is_one_line_in_a_fresh_process(corpus):
    """A fresh interpreter shows what the driver hides: warnings raised once per process (Lightning's
    _pytree FutureWarning at fit start would make the error two lines) and the real exit status."""
    data, _, _, _, root = corpus
    args = ["-m", "bilstm_clf.train", *_base(data, root / "fresh"), *TRAIN_CASES["divergence_exploded_loss"][0]]
    result = run_cli(args, cwd=ROOT)
    assert not _problems(result.returncode, result.stdout, result.stderr, None, TRAIN_CASES["divergence_exploded_loss"][1]), result.stderr[-2000:]


def test_robustness_doc_lists_every_case():
    doc = (ROOT / "docs" / "robustness.md").read_text(encoding="utf-8")
    missing = [cid for cases in (TRAIN_CASES, PREDICT_CASES, EXPORT_CASES) for cid in cases if f"`{cid}`" not in doc]
    assert not missing, f"docs/robustness.md lacks rows for {missing}"
