"""What an export refuses: checkpoint parts that do not fit each other.

A checkpoint can hold well-formed weights and still make a broken bundle: more (or repeated)
label names than the model has outputs, a tokenizer that is not JSON or maps words past the
embedding's rows, NaN weights from a diverged run. The bundle would then fail to load, or load
and mislabel. Each is one ``DataError`` naming the checkpoint, before anything is written.
"""

from __future__ import annotations

from bilstm_clf.common.errors import DataError


def check_source(source, model) -> None:
    """``source``: an ``ExportSource``; ``model``: the ``BiLSTMClassifier`` built from it."""
    import torch

    from bilstm_clf.data.tokenizer import Tokenizer

    where = source.checkpoint.get("path") or "checkpoint"
    labels = source.label_names
    if not all(isinstance(x, str) and x.strip() for x in labels):
        raise DataError(where, f"label names {labels!r}: expected non-empty strings")
    if len(set(labels)) != len(labels):
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        raise DataError(where, f"label names repeat ({', '.join(map(repr, repeated))}); each class needs its own name")
    outputs = model.head.out_features
    if len(labels) != outputs:
        raise DataError(where, f"{len(labels)} label names but the model has {outputs} outputs")
    try:
        tokenizer = Tokenizer.from_json(source.tokenizer_json)
    except Exception as err:  # noqa: BLE001 - tokenizers raises plain Exceptions on bad JSON
        text = str(err).strip()
        raise DataError(where, f"its tokenizer JSON does not load: {text.splitlines()[0] if text else type(err).__name__}") from None
    top = max(tokenizer.hf.get_vocab().values(), default=0)
    rows = model.vocab_size
    if top >= rows:
        raise DataError(where, f"its tokenizer maps a word to id {top}, but the model has {rows} embedding rows")
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise DataError(where, f"weight {name} holds NaN or infinite values (a diverged run?); nothing exported")
