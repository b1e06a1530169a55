"""One label policy for every format: a label is a string, and two spellings of one class are one label.

- Surrounding whitespace is stripped and the text is NFC-normalised, so ``café`` typed with a
  combining accent and ``café`` typed precomposed are one class (they look the same).
- A label that reads as a number is written in its plain decimal form: ``1``, ``01``, ``+1``,
  ``1.0`` and ``1e0`` in a CSV/TSV cell, the JSON numbers ``1`` and ``1.0``, and the JSON string
  ``"1.0"`` are all the class ``1`` (and ``1.50`` is ``1.5``). Without this, CSV ``1`` and ``1.0``
  would train as two classes while JSONL merged them.
- Everything else is kept as written, case included (``Pos`` and ``pos`` are two classes).
- A JSON number that is not whole (``0.5``) is refused by the JSONL reader: it is a score, not a class.

``data.label_names`` keys go through the same function, so ``{1: bad}`` names the class ``01``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from decimal import Decimal, InvalidOperation

_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


# a file of millions of rows spells its few labels over and over: remember them (typed, as JSON's
# true, 1 and 1.0 are equal keys in Python and differ here)
@functools.lru_cache(maxsize=1 << 16, typed=True)
def canonical_label(raw: object) -> str:
    """The label ``raw`` (a cell's text, or a JSON string or number) stands for."""
    if isinstance(raw, bool):  # JSON true/false: as written in JSON
        return "true" if raw else "false"
    text = unicodedata.normalize("NFC", str(raw).strip())
    if isinstance(raw, (int, float)) or _NUMBER.fullmatch(text):
        try:
            value = Decimal(text)
        except InvalidOperation:
            return text
        if value.is_finite() and abs(value.adjusted()) < 30:  # 1e400 stays as written
            if value == value.to_integral_value():
                return str(int(value))
            return format(value.normalize(), "f")  # 1.50 -> 1.5
    return text
