"""Writes that fail name their path in one line (a full disk, a read-only directory), and files
written atomically get the mode the umask asks for, not mkstemp's private 0600."""

from __future__ import annotations

import errno
import os
import tempfile

import pytest

from bilstm_clf.common import atomic
from bilstm_clf.common.atomic import atomic_directory, write_json_atomic
from bilstm_clf.common.errors import UserError, one_line_errors


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "metrics.json", {"a": 1})
        with atomic_directory(tmp_path / "bundle") as staging:
            (staging / "x").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "bundle").stat().st_mode & 0o777 == mode | 0o111 & ~umask


def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(UserError, match=rf"^{tmp_path}/metrics\.json: cannot write: No space left on device$"):
        write_json_atomic(tmp_path / "metrics.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_directory_names_the_bundle(tmp_path, monkeypatch):
    def read_only(**kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    with pytest.raises(UserError, match=rf"^{tmp_path}/bundle: cannot write: Read-only file system$"):
        with atomic_directory(tmp_path / "bundle"):
            pass


def test_a_failing_checkpoint_write_is_one_line(tmp_path, monkeypatch):
    import torch

    from bilstm_clf.training.checkpoint_io import AtomicCheckpointIO

    def disk_full(obj, f):  # what torch's C++ writer raises on ENOSPC
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0\nbasic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", disk_full)
    target = tmp_path / "checkpoints" / "last.ckpt"
    with pytest.raises(UserError, match=rf"^{target}: cannot write: \[enforce fail"):
        AtomicCheckpointIO().save_checkpoint({"a": 1}, target)
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_environment_errors_are_one_line_in_every_cli(capsys):
    with pytest.raises(SystemExit) as stop, one_line_errors():
        raise OSError(errno.EROFS, "Read-only file system", "/mnt/ro/bundle")
    assert stop.value.code == 2
    assert capsys.readouterr().err == "error: /mnt/ro/bundle: Read-only file system\n"
