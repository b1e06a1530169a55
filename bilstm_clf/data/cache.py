"""The cache of prepared splits (``data.cache_dir``): built once, memory-mapped by every later run
and by every DDP rank.

- **Key.** A build's directory is named by a hash of everything that changes its arrays: each
  input file's identity (resolved path, size, modification time, and a hash of its first and last
  64 KiB, which catches an edit that kept size and time), every reader and tokenizer option, the
  validation carve, the array format and the versions of this package and of ``tokenizers``.
  Changed data or options give another key, so a stale build is never looked up.
- **Whole or not at all.** A build is written into a temporary directory beside its final name,
  ``manifest.json`` last, then renamed into place. A directory whose manifest or arrays are
  missing, cut or of another format is rebuilt, never used.
- **One builder.** An exclusive ``flock`` on the key's lock file: the first process (DDP rank 0)
  builds, the others wait and then memory-map what it wrote; none of them reads the text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from bilstm_clf.common.atomic import write_failure
from bilstm_clf.common.errors import DataError, UserError
from bilstm_clf.common.file_checks import regular_file
from bilstm_clf.data import prepared, prepared_store
from bilstm_clf.data.prepared_store import IncompleteBuild, PreparedData, PrepareOptions

log = logging.getLogger(__name__)

EDGE_BYTES = 64 << 10


def file_identity(path: Path) -> dict:
    stat = regular_file(path)  # a FIFO would block the hash below forever: refused by type first
    resolved = path.resolve()
    digest = hashlib.blake2b(digest_size=16)
    try:
        with resolved.open("rb") as f:
            digest.update(f.read(EDGE_BYTES))
            if stat.st_size > 2 * EDGE_BYTES:
                f.seek(-EDGE_BYTES, os.SEEK_END)
            digest.update(f.read(EDGE_BYTES))
    except OSError as err:  # unreadable: the reader names it the same way
        raise DataError(path, "permission denied" if isinstance(err, PermissionError) else f"cannot read the file ({err.strerror or err})") from None
    return {"path": str(resolved), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "edges": digest.hexdigest()}


def cache_key(options: PrepareOptions) -> str:
    import tokenizers

    from bilstm_clf import __version__

    fields = {
        "format_version": prepared_store.FORMAT_VERSION,
        "bilstm_clf": __version__,
        "tokenizers": tokenizers.__version__,
        "files": {split: None if path is None else file_identity(Path(path)) for split, path in options.files.items()},
        **options.key_fields(),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:24]


def prepare(options: PrepareOptions, cache_dir: str | Path | None, name: str = "data") -> PreparedData:
    """The prepared splits of ``options``: from the cache when a whole build is there, else built
    (and, with a ``cache_dir``, published there for the next run). ``cache_dir=None``: built in a
    temporary directory and read into memory."""
    if cache_dir is None:
        try:
            with tempfile.TemporaryDirectory(prefix="bilstm-clf-prepare-") as tmp:
                prepared.build(options, Path(tmp) / "build")
                return prepared_store.load(Path(tmp) / "build", mmap=False)
        except OSError as err:  # a full or unwritable temporary directory
            raise UserError(f"{write_failure(tempfile.gettempdir(), err)} (preparing the data needs scratch space: "
                            "set data.cache_dir to a writable directory, or TMPDIR)") from None
    cache_dir = Path(cache_dir)
    key = cache_key(options)
    target = cache_dir / f"{_safe(name)}-{key}"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        lock = (cache_dir / f".{target.name}.lock").open("a")
    except OSError as err:
        raise _cache_failure(cache_dir, err) from None
    with lock, _exclusive(lock):
        if target.exists():
            try:
                data = prepared_store.load(target)
                log.info("prepared data from the cache: %s", target)
                return data
            except IncompleteBuild as err:
                log.warning("cache %s is incomplete (%s): rebuilding it", target, err)
                shutil.rmtree(target, ignore_errors=True)
        building = None
        try:
            building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=cache_dir))
            prepared.build(options, building / "build")
            os.replace(building / "build", target)
        except OSError as err:
            raise _cache_failure(target, err) from None
        finally:
            if building is not None:
                shutil.rmtree(building, ignore_errors=True)
        log.info("prepared data cached in %s", target)
        return prepared_store.load(target)


def _cache_failure(path: Path, err: OSError) -> UserError:
    """The write failure's one line, with the two ways out (read-only data disks are common)."""
    return UserError(f"{write_failure(path, err)} (the prepared-data cache: set data.cache_dir to a writable "
                     "directory, or data.cache_dir=null to prepare the data in memory)")


@contextlib.contextmanager
def _exclusive(lock_file):
    try:
        import fcntl
    except ImportError:  # not POSIX: one process at a time is then the user's to ensure
        yield
        return
    fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))[:40] or "data"
