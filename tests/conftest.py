import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
# Prepared-data caches of the runs a test starts go to a fresh directory: no test finds what an
# earlier command left in data/.cache (tests of the cache itself set their own).
os.environ["BILSTM_CLF_CACHE_DIR"] = tempfile.mkdtemp(prefix="bilstm-clf-test-cache-")
# Removed when the process ends (each xdist worker has its own): runs must not fill the disk.
atexit.register(shutil.rmtree, os.environ["BILSTM_CLF_CACHE_DIR"], ignore_errors=True)
SHARED_DATASETS = Path(os.environ.get("BILSTM_CLF_DATA_MIRROR", ROOT.parent / "shared" / "datasets"))

# The suite draws the same examples on every run (derandomize), so a red CI always means a change,
# never an unlucky draw. BILSTM_CLF_HYPOTHESIS_EXPLORE=1 draws fresh ones, to hunt for new cases.
EXPLORE = bool(os.environ.get("BILSTM_CLF_HYPOTHESIS_EXPLORE"))
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=not EXPLORE)
settings.register_profile("dev", max_examples=20, deadline=None, derandomize=not EXPLORE)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


POSITIVE = ["a great and moving film", "wonderful acting , great story", "i loved it", "superb and funny", "a joy to watch"]
NEGATIVE = ["a dull , boring mess", "terrible acting and a bad story", "i hated it", "awful and tedious", "a waste of time"]


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """A small separable sentiment dataset as TSV train/dev/test files."""
    def rows(n: int) -> str:
        lines = ["sentence\tlabel"]
        for i in range(n):
            lines.append(f"{POSITIVE[i % 5]}\tpos")
            lines.append(f"{NEGATIVE[i % 5]}\tneg")
        return "\n".join(lines) + "\n"

    directory = tmp_path / "tiny"
    write(directory / "train.tsv", rows(20))
    write(directory / "dev.tsv", rows(5))
    write(directory / "test.tsv", rows(5))
    return directory


def run_cli(args: list[str], cwd: Path, timeout: int = 300):
    import subprocess

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
