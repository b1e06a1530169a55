"""What kind of file an input path is, settled from its type and first bytes before it is read.

A FIFO blocks the reader forever, ``/dev/zero`` (or a symlink to it) never ends, and a compressed
file decodes to mojibake: each is refused by type, one line naming the file. Torch-free: the
readers, predict and the checkpoint loader all use it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bilstm_clf.common.errors import DataError

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# Magic bytes of archives and compressed files people rename to .csv/.txt/.jsonl.
COMPRESSED = (
    (b"\x1f\x8b", "gzip-compressed", "gunzip it first"),
    (b"PK\x03\x04", "a zip archive", "unzip it first"),
    (b"BZh", "bzip2-compressed", "bunzip2 it first"),
    (b"\xfd7zXZ\x00", "xz-compressed", "unxz it first"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "unzstd it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive", "extract it first"),
)


def regular_file(path: str | Path) -> os.stat_result:
    """``path`` must be a regular file (symlinks followed): the stat result, or a ``DataError``."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError(path, "file not found" + (" (a broken symlink)" if path.is_symlink() else "")) from None
    except PermissionError:
        raise DataError(path, "permission denied") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise DataError(path, f"cannot read the file ({getattr(err, 'strerror', None) or err})") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(path, "is a directory, expected a file")
    for test, kind in _KINDS:
        if test(info.st_mode):
            target = f" (a symlink to {os.path.realpath(path)})" if path.is_symlink() else ""
            raise DataError(path, f"is {kind}{target}, not a regular file; save the data to a file first")
    return info


def refuse_compressed(path: str | Path, head: bytes) -> None:
    """A file whose first bytes are a compression or archive signature is not text."""
    for magic, kind, fix in COMPRESSED:
        if head.startswith(magic):
            raise DataError(path, f"is {kind} (starts with the bytes {magic[:4]!r}), not text; {fix}")
