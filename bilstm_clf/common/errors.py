"""User-facing errors: printed as one line by the command-line entry points, never as a traceback."""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar


class UserError(Exception):
    """A problem with the user's input or configuration that the user can fix."""


class DataError(UserError):
    """Bad data: names the file, the line when known, and the problem."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class ConfigError(UserError):
    """A configuration value that cannot work: names the key, the value and the valid choices."""

    def __init__(self, key: str, value: object, expected: str):
        self.key = key
        self.value = value
        super().__init__(f"config {key}={value!r}: {expected}")


F = TypeVar("F", bound=Callable[..., object])

# errors of the user's environment, not bugs: a full disk or quota, a read-only or unwritable path
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def environment_error(err: BaseException) -> UserError | None:
    """An ``OSError`` that names a file, or is one of ``ENVIRONMENT_ERRNOS``, as one line."""
    if isinstance(err, OSError) and (err.filename or err.errno in ENVIRONMENT_ERRNOS):
        where = f"{err.filename}: " if err.filename else ""
        return UserError(f"{where}{err.strerror or err}")
    return None

TRACEBACK_SWITCH = "BILSTM_CLF_TRACEBACK"  # =1: show the traceback of a user error too


@contextmanager
def one_line_errors(translate: Callable[[BaseException], UserError | None] | None = None) -> Iterator[None]:
    """The one error path of every CLI: a ``UserError`` (or an exception ``translate`` turns
    into one, such as Hydra's) becomes ``error: ...`` on stderr, one line, and exit status 2.
    Anything else is a bug and propagates with its traceback."""
    try:
        yield
    except Exception as err:
        user_error = err if isinstance(err, UserError) else ((translate(err) if translate else None) or environment_error(err))
        if user_error is None or os.environ.get(TRACEBACK_SWITCH) == "1":
            raise
        text = str(user_error).replace("\r", " ").replace("\n", " ")  # one line, paths kept exact
        print(f"error: {text}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def exit_on_user_error(func: F) -> F:
    """Wrap a CLI main in ``one_line_errors``."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with one_line_errors():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
