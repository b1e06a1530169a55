"""Data reading, tokenisation and batching.

Kept import-free on purpose: ``readers`` and ``tokenizer`` need neither torch nor Lightning,
and the inference runtime imports them directly.
"""
