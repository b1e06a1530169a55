"""``ckpt_path=`` checked before ``trainer.fit`` resumes from it.

Lightning restores a checkpoint deep inside fit, where a truncated file, a dict without its
keys, the weights of another model size or the state of another optimizer end in a long
traceback. Here each is one ``DataError`` naming the file and what does not fit.
"""

from __future__ import annotations

from typing import Any

from bilstm_clf.common.checkpoint_file import load_checkpoint_dict
from bilstm_clf.common.errors import DataError

# What Lightning reads to resume a run (a weights-only checkpoint has no optimizer state).
RESUME_KEYS = ("state_dict", "optimizer_states", "loops", "epoch", "global_step")
SAME_SETTINGS = "resume with the model, data and optimizer settings it was trained with"


def check_resume(path: str, module) -> dict[str, Any]:
    """The checkpoint at ``path``, when ``module`` (built from this run's config) can resume from it."""
    checkpoint = load_checkpoint_dict(path)
    missing = [key for key in RESUME_KEYS if key not in checkpoint]
    if missing:
        raise DataError(path, f"not a resumable training checkpoint: no {', '.join(missing)} (not written by bilstm_clf.train, or weights only)")
    loops = checkpoint["loops"]
    if not isinstance(loops, dict) or not isinstance(loops.get("fit_loop"), dict):
        raise DataError(path, "loops holds no fit_loop state (not written by a Lightning fit)")
    for key in ("epoch", "global_step"):
        if not isinstance(checkpoint[key], int) or isinstance(checkpoint[key], bool) or checkpoint[key] < 0:
            raise DataError(path, f"{key} is {checkpoint[key]!r}, expected an integer >= 0")
    state = checkpoint["state_dict"]
    if not isinstance(state, dict):
        raise DataError(path, f"state_dict is a {type(state).__name__}, expected a dict of tensors")
    _check_weights(path, state, module.state_dict())
    _check_optimizer(path, checkpoint["optimizer_states"], module)
    return checkpoint


FROZEN_KEY = "model.frozen_vectors"


def _check_weights(path, saved: dict[str, Any], expected: dict[str, Any]) -> None:
    absent = [k for k in expected if k not in saved]
    extra = [k for k in saved if k not in expected]
    if absent or extra:
        which = f"lacks {absent[0]}" if absent else f"has {extra[0]}, which this model has not"
        more = len(absent) + len(extra) - 1
        if FROZEN_KEY in absent + extra:  # the vectors' added words (bilstm_clf.models.classifier)
            which += (": embeddings.vocab_from_vectors differs (a run from before its default was 30000 resumes with "
                      "embeddings.vocab_from_vectors=0)")
        raise DataError(path, f"written for another model: it {which}{f' (and {more} more differences)' if more else ''}; {SAME_SETTINGS}")
    for key, want in expected.items():
        got = saved[key]
        if not hasattr(got, "shape"):
            raise DataError(path, f"{key} is a {type(got).__name__}, expected a tensor")
        if tuple(got.shape) != tuple(want.shape):
            raise DataError(path, f"a checkpoint of another model size: {key} is {list(got.shape)} there, {list(want.shape)} here "
                                  f"(vocabulary, classes, embedding_dim or hidden_size differ); {SAME_SETTINGS}")


def _check_optimizer(path, states: Any, module) -> None:
    if not isinstance(states, list) or len(states) != 1 or not isinstance(states[0], dict):
        raise DataError(path, "optimizer_states is not the state of one optimizer")
    trial = module.make_optimizer()  # a throwaway copy, with the run's parameter groups
    groups = states[0].get("param_groups")
    if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
        raise DataError(path, "optimizer_states holds no parameter groups")
    lacking = sorted(set(trial.defaults) - set(groups[0]))
    if lacking:
        raise DataError(path, f"saved by another optimizer than {type(trial).__name__} (its state has no {', '.join(lacking)}); {SAME_SETTINGS}")
    if len(groups) != len(trial.param_groups):  # the table is a group of its own unless embeddings.lr_scale=1
        raise DataError(path, f"its optimizer has {len(groups)} parameter group(s) and this run's {len(trial.param_groups)}: "
                              f"embeddings.lr_scale differs (1.0 makes one group, other values two); {SAME_SETTINGS}")
    try:
        trial.load_state_dict(states[0])
    except Exception as err:  # noqa: BLE001 - torch raises ValueError, KeyError or TypeError here
        raise DataError(path, f"its optimizer state does not fit this model: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
