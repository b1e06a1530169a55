"""User-facing errors: printed as one line by the command-line entry points, never as a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
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


def exit_on_user_error(func: F) -> F:
    """Wrap a CLI main: a UserError becomes one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper  # type: ignore[return-value]
