"""Write then rename: a reader sees the old file or the whole new one, never half of one.

Torch-free, so the export and inference code can use it too. ``os.replace`` is atomic on POSIX and
Windows when source and destination are on one filesystem, so temporaries sit beside the target.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bilstm_clf.common.errors import UserError


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    If ``write`` fails the temporary is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp's 0600 would make every output private
        os.close(fd)
        write(Path(tmp))
        with open(tmp, "rb+") as f:  # on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a read-only or unwritable directory: name the path
        raise write_failure(path, err) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def current_umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def write_failure(path: str | Path, err: BaseException) -> UserError:
    """One line naming ``path``: the OS's reason, and a full disk said as such."""
    text = str(err).strip()
    reason = getattr(err, "strerror", None) or (text.splitlines()[0] if text else type(err).__name__)
    if isinstance(err, (FileExistsError, NotADirectoryError)):  # mkdir met a file on the way
        blocker = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            reason = f"{blocker} is a file, not a directory"
    try:
        if os.statvfs(Path(path).parent).f_bavail == 0 and "space" not in reason.lower():
            reason += " (the disk is full)"
    except OSError:
        pass
    return UserError(f"{path}: cannot write: {reason}")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    write_atomic(path, lambda tmp: tmp.write_bytes(data))


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no glibc renameat2 (< 2.28, musl)
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


@contextmanager
def atomic_directory(final: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary name, then rename it to ``final`` in one step.

    ``final`` is never half-written: on an exception the temporary directory is deleted. An
    existing ``final`` is an error unless ``overwrite``: then it is replaced only after the new
    one is complete, by an atomic swap where the OS has one (Linux), else by moving the old one
    aside first and deleting it last.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise UserError(f"{final}: already exists; choose another path or remove it first")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as err:  # a read-only or unwritable parent
        raise write_failure(final, err) from None
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp's is private; the result is an ordinary directory
    try:
        try:
            yield tmp
        except OSError as err:  # the disk filled while the directory was being written
            raise write_failure(final, err) from None
        if final.is_dir() and not final.is_symlink() and _exchange(tmp, final):
            return  # tmp now holds the old directory; removed below
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, old / final.name)
        try:
            os.rename(tmp, final)
        except OSError:
            if old is not None:  # put the old one back
                os.replace(old / final.name, final)
            raise UserError(f"{final}: appeared while it was being written; nothing was overwritten") from None
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
