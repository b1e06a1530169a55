"""Hydra and OmegaConf errors as one-line ``UserError``s naming the key, the value and the choices.

Hydra would print a config mistake as a paragraph, or as a traceback when it surfaces inside the
task (an unimportable ``_target_``, a missing ``???`` value). ``one_line_user_errors`` turns
every user error into ``error: <one line>`` on stderr and exit status 2; anything else is a bug and
keeps its traceback. ``BILSTM_CLF_TRACEBACK=1`` shows the traceback of user errors too.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

from bilstm_clf.common.errors import ConfigError, UserError, environment_error, one_line_errors

from bilstm_clf.configs import CONFIG_DIR


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def group_options(group: str) -> list[str]:
    """The options of a config group (``optimizer`` -> adam, adamw, sgd)."""
    folder = Path(CONFIG_DIR) / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def as_user_error(err: BaseException, key: str | None = None) -> UserError | None:
    """The user error ``err`` stands for, or None when it is not one (a bug: keep the traceback).

    ``key`` names the config node being instantiated, when the caller knows it.
    """
    from hydra.errors import (
        CompactHydraException,
        ConfigCompositionException,
        InstantiationException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

    if isinstance(err, UserError):
        return err
    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, option = err.missing_cfg_file.rpartition("/")
        options = list(err.options or group_options(group))
        if group:
            return ConfigError(group.replace("/", "."), option, _did_you_mean(option, options) + f"expected one of {', '.join(options)}")
        return UserError(f"config {option!r} not found; expected one of {', '.join(options)}")
    if isinstance(err, OverrideParseException):
        problem = one_line(err.message.split("\nSee https://")[0])
        return UserError(f"cannot parse the override {err.override!r}: {problem} (write key=value)")
    if isinstance(err, ConfigCompositionException) and isinstance(err.__cause__, (ConfigKeyError, ConfigAttributeError)):
        cause = err.__cause__
        parent = getattr(cause, "parent_node", None)
        keys = [str(k) for k in parent.keys()] if parent is not None else []
        bad = str(getattr(cause, "key", "") or "")
        where = cause.full_key.rpartition(".")[0] or "the config"
        append = re.search(r"use (\+\S+)", str(err))
        return UserError(
            f"config {cause.full_key}: no such key; {_did_you_mean(bad, keys)}"
            + (f"keys in {where}: {', '.join(keys)}" if keys else "")
            + (f" (to add a new key write {append.group(1)})" if append else "")
        )
    if isinstance(err, InstantiationException):
        return _instantiation_error(err, key)
    if isinstance(err, MissingMandatoryValue):
        return ConfigError(err.full_key, "???", f"is required: add {err.full_key}=... to the command line")
    if isinstance(err, OmegaConfBaseException):
        full_key = getattr(err, "full_key", None)
        msg = getattr(err, "msg", None) or str(err).split("\n    full_key")[0]
        return UserError(f"config {full_key}: {one_line(msg)}" if full_key else f"config: {one_line(msg)}")
    if type(err).__name__ == "MisconfigurationException":  # Lightning's word for a setting it cannot run with
        return UserError(f"config: Lightning cannot run with these settings: {one_line(str(err))}")
    if isinstance(err, CompactHydraException):
        return UserError(f"config: {one_line(str(err))}")
    return environment_error(err)  # an unwritable log dir, a full disk: the user's environment, not a bug


def _instantiation_error(err: BaseException, key: str | None) -> UserError:
    message = str(err)
    full_key = re.search(r"full_key: (\S+)", message)
    key = key or (full_key.group(1) if full_key else "?")
    cause = err.__cause__
    while cause is not None:  # our own checks inside a constructor (the datamodule's) say it best
        if isinstance(cause, UserError):
            return cause
        cause = cause.__cause__
    group = key.split(".")[0]
    locate = re.match(r"Error locating target '([^']*)'", message)
    if locate:
        options = group_options(group)
        choices = f"; or pick a ready one: {group}={'|'.join(options)}" if options and group == key else ""
        return ConfigError(f"{key}._target_", locate.group(1), f"cannot import it; expected an importable class or function{choices}")
    call = re.match(r"Error in call to target '([^']*)':\s*(.*?)(?:\nfull_key:.*)?$", message, re.S)
    if call:
        reason = f"{type(err.__cause__).__name__}: {err.__cause__}" if err.__cause__ is not None else call.group(2)
        return UserError(f"config {key}: {call.group(1)} rejected its arguments: {one_line(reason)}")
    return UserError(f"config {key}: {one_line(message)}")


def instantiate_checked(node: Any, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` whose failures are one-line config errors naming ``key``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        raise _instantiation_error(err, key) from err


def one_line_user_errors():
    """``one_line_errors`` that also reads Hydra's composition and instantiation errors."""
    return one_line_errors(as_user_error)


def let_hydra_raise() -> None:
    """Make Hydra re-raise composition errors (instead of printing a paragraph and exiting 1),
    so ``one_line_user_errors`` can report them. Bugs then show Hydra's full traceback."""
    os.environ["HYDRA_FULL_ERROR"] = "1"
