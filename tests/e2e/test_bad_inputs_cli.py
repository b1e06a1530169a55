"""The real CLI over the whole bad-input corpus: one line on stderr, exit 2, never a traceback.

Then a messy but usable data set with on_bad_row=skip: the run trains and reports its skips at
the end; a rerun into the same run directory leaves the first run untouched.
"""

import hashlib
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.bad_input_cases import CASES, CONFIG_CASES, CORPUS, DIRECTORY, override_value
from tests.conftest import NEGATIVE, POSITIVE, ROOT, run_cli

TINY = ["embeddings=none", "trainer.max_epochs=1", "callbacks.progress_bar.refresh_rate=0", "model.embedding_dim=8", "model.hidden_size=8"]


def _data_case_args(case, corpus: Path, run_dir: Path) -> list[str]:
    args = ["data=custom", f"data.data_dir={corpus}", f"data.train_file={case.train}",
            f"data.val_file={case.dev or 'null'}", "data.test_file=null"]
    args += [f"data.{key}={override_value(value)}" for key, value in case.options.items()]
    return args + [f"hydra.run.dir={run_dir}"]


def _jobs(tiny_dataset: Path, tmp_path: Path) -> list[tuple[str, list[str], str]]:
    """(id, command-line arguments, expected error regex) for every data and config case."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / DIRECTORY).mkdir()
    good_data = ["data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv", "data.val_file=dev.tsv",
                 "data.test_file=test.tsv", "data.text_field=sentence"]
    jobs = [(c.id, [*TINY, *_data_case_args(c, corpus, tmp_path / "runs" / c.id)], c.cli_error or c.error) for c in CASES]
    jobs += [(cid, [*TINY, *good_data, *overrides, f"hydra.run.dir={tmp_path / 'runs' / cid}"], regex) for cid, overrides, regex in CONFIG_CASES]
    return jobs


def _problems(status: int, stdout: str, stderr: str, escaped: str | None, regex: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    problems = []
    if escaped:
        problems.append(f"an exception escaped:\n{escaped}")
    if status != 2:
        problems.append(f"exit {status}")
    if "Traceback" in stderr + stdout:
        problems.append("a traceback")
    if len(lines) != 1 or not lines[0].startswith("error: "):
        problems.append(f"{len(lines)} stderr lines")
    elif not re.search(regex, lines[0]):
        problems.append("unexpected message")
    return problems


def test_every_bad_input_is_one_line_exit_2_and_no_traceback(tiny_dataset, tmp_path):
    """The whole corpus through the CLI entry point (tests/cli_driver.py: one interpreter, main() per case)."""
    jobs = _jobs(tiny_dataset, tmp_path)
    spec, out = tmp_path / "jobs.json", tmp_path / "results.json"
    spec.write_text(json.dumps([{"id": cid, "argv": argv} for cid, argv, _ in jobs]))
    driver = run_cli([str(ROOT / "tests" / "cli_driver.py"), str(spec), str(out)], cwd=ROOT, timeout=600)
    assert driver.returncode == 0, driver.stderr[-3000:]
    results = {r["id"]: r for r in json.loads(out.read_text())}
    assert len(results) == len(jobs) == len(CASES) + len(CONFIG_CASES)
    failures = []
    for cid, _, regex in jobs:
        r = results[cid]
        problems = _problems(r["exit"], r["stdout"], r["stderr"], r["exception"], regex)
        if problems:
            failures.append(f"{cid}: {', '.join(problems)}\n    stderr: {r['stderr'][-600:]!r}")
    assert not failures, "\n".join(failures)


# each kind in a fresh interpreter: a data error (raised after torch is imported) and a Hydra
# composition error (before our code runs); tests/test_train_cli.py runs a model config error
SEPARATE_PROCESS_CASES = ("invalid_utf8", "unknown_optimizer")


def test_bad_inputs_in_separate_processes(tiny_dataset, tmp_path):
    jobs = [job for job in _jobs(tiny_dataset, tmp_path) if job[0] in SEPARATE_PROCESS_CASES]
    assert len(jobs) == len(SEPARATE_PROCESS_CASES)

    def run(job):
        cid, argv, regex = job
        return cid, regex, run_cli(["-m", "bilstm_clf.train", "embeddings=none", *argv], cwd=ROOT, timeout=240)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, jobs))
    failures = [
        f"{cid}: {', '.join(problems)}\n    stderr: {result.stderr[-600:]!r}"
        for cid, regex, result in results
        if (problems := _problems(result.returncode, result.stdout, result.stderr, None, regex))
    ]
    assert not failures, "\n".join(failures)


def _messy_train_csv() -> bytes:
    """BOM, CRLF, quoted multi-line fields and a very long line, plus one row without a label."""
    rows = ["id,text,label"]
    for i in range(24):
        rows.append(f'{2 * i},"{POSITIVE[i % 5]},\r\nreally",pos')
        rows.append(f'{2 * i + 1},"{NEGATIVE[i % 5]}",neg')
    rows.append("99,a row whose label is missing,")
    rows.append("100," + "great " * 20_000 + ",pos")
    return b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8") + b"\r\n"


def _digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_skips_are_reported_at_the_end_and_a_rerun_never_overwrites(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_bytes(_messy_train_csv())
    dev = ["text,label"] + [f'"{POSITIVE[i]}",pos' for i in range(5)] + [f'"{NEGATIVE[i]}",neg' for i in range(5)] + ["meh,neutral"]
    (data / "dev.csv").write_text("\n".join(dev) + "\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    common = ["-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={data}", "data.val_file=dev.csv", "data.on_bad_row=skip",
              "data.max_chars=1000", "data.max_length=64", f"hydra.run.dir={run_dir}", *(t for t in TINY if not t.startswith("trainer.max_epochs"))]

    first = run_cli([*common, "trainer.max_epochs=1"], cwd=ROOT)
    assert first.returncode == 0, first.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["skipped_rows"] == {"train": 1, "val": 1}
    summary = first.stdout[first.stdout.index("run dir:"):]
    assert re.search(r"data: +\S*train\.csv: \d+ rows, 1 skipped \(line \d+: missing label\), 1 cut to 1000 characters", summary)
    assert re.search(r"data: +\S*dev\.csv: 10 rows, 1 skipped \(line 12: label 'neutral' does not occur in the training split", summary)
    before = _digest(run_dir)
    assert "checkpoints/last.ckpt" in before and not any(".tmp" in name for name in before)

    # the same run dir again, resuming: the first run stays byte for byte as it was
    second = run_cli([*common, "trainer.max_epochs=2", "ckpt_path=last"], cwd=ROOT)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"note: {run_dir} holds another run; this run writes to {run_dir}_1" in second.stdout
    assert _digest(run_dir) == before
    resumed = json.loads((tmp_path / "run_1" / "metrics.json").read_text())
    assert resumed["run_dir"].endswith("run_1") and resumed["epochs_trained"] == 2
