"""A property over the config space: random values, types and keys for the main config groups give
either a finished tiny run or exactly one ``error:`` line with exit status 2, never a traceback,
another exit status or a run that "finishes" without its metrics.

Runs in this interpreter through the CLI's entry point (tests/cli_driver.run_one), so each example
costs a Hydra composition and, when it trains, one epoch on 40 rows. One-off runs of 550 examples
(250 of these, 300 of plausible values that mostly train) found the negative ``seed`` and
``data.split_seed`` and the vocabulary of only <pad> and <unk> (``data.min_freq=1000``), now
cases in tests/reliability_cases.py.
"""

from __future__ import annotations

import itertools
import logging
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import NEGATIVE, POSITIVE
from tests.e2e.test_bad_inputs_cli import TINY

EXAMPLES = int(os.environ.get("BILSTM_CLF_CONFIG_EXAMPLES", "15"))

# keys each group's config file defines, and a few that no file defines (a typo, a stray +key)
KEYS = {
    "model": ["embedding_dim", "hidden_size", "num_layers", "bidirectional", "pooling", "merge_mode", "attention_size",
              "embedding_dropout", "word_dropout", "subword_buckets", "lstm_dropout", "output_dropout", "forget_bias", "encoder"],
    "data": ["batch_size", "eval_batch_size", "val_fraction", "max_length", "min_freq", "max_vocab_size", "max_chars", "lowercase",
             "tokenizer_style", "on_bad_row", "pool_batches", "format", "encoding", "has_header", "text_field", "label_field",
             "label_names", "split_seed"],
    "optimizer": ["lr", "weight_decay", "fused"],
    "scheduler": ["factor", "patience", "mode"],
    "trainer": ["max_epochs", "limit_train_batches", "limit_val_batches", "gradient_clip_val", "num_sanity_val_steps", "log_every_n_steps"],
    "": ["seed", "label_smoothing", "class_weights", "ema_decay", "adversarial_eps", "monitor", "scheduler_interval"],
}
STRAY = ["poolin", "lr_decay", "hidden", "x"]

numbers = st.one_of(
    st.integers(-3, 12), st.integers(-(2**40), 2**40), st.sampled_from([0.0, 0.5, 1.0, 0.99, 1e-9, -0.5, 2.5, 1e30, -1e30]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
)
words = st.sampled_from(["abc", "max", "last", "mean", "sum", "adam", "null", "true", "false", "val/acc", "utf-8", "latin-1",
                         "csv", "text", "label", "balanced", "skip", "error", "packed", "padded", "''", "[1,2]", "[1,inf]",
                         "{a: 1}", "[", "${oops}", "1e-3", "-1"])
values = st.one_of(numbers, st.booleans(), words)


def render(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value == value else "nan"
    return str(value)


@st.composite
def overrides(draw) -> list[str]:
    chosen = []
    for _ in range(draw(st.integers(1, 4))):
        group = draw(st.sampled_from(list(KEYS)))
        stray = draw(st.booleans()) and draw(st.booleans())  # a quarter of them: a key no file defines
        key = draw(st.sampled_from(STRAY if stray else KEYS[group]))
        dotted = f"{group}.{key}" if group else key
        chosen.append(f"{'+' if stray else ''}{dotted}={render(draw(values))}")
    if draw(st.booleans()):
        chosen.append(f"optimizer={draw(st.sampled_from(['adam', 'adamw', 'sgd']))}")
    return chosen


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    directory = tmp_path_factory.mktemp("config_space")
    rows = "text\tlabel\n" + "".join(f"{p}\tpos\n{n}\tneg\n" for p, n in zip(POSITIVE * 4, NEGATIVE * 4))
    for split in ("train", "dev"):
        (directory / f"{split}.tsv").write_text(rows, encoding="utf-8")
    return directory


def test_any_config_gives_a_finished_run_or_one_error_line(data, tmp_path_factory):
    from tests.cli_driver import run_one

    runs = tmp_path_factory.mktemp("config_space_runs")
    counter = itertools.count()
    handlers, level = logging.root.handlers[:], logging.root.level  # Hydra reconfigures logging per run
    base = [*TINY, "logger=none", "export.enabled=false", "data=custom", f"data.data_dir={data}", "data.train_file=train.tsv",
            "data.val_file=dev.tsv", "data.format=null"]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(overrides())
    def check(chosen):
        run_dir = runs / f"run{next(counter)}"
        result = run_one([*base, *chosen, f"hydra.run.dir={run_dir}"])
        lines = [line for line in result["stderr"].splitlines() if line.strip()]
        assert result["exception"] is None, result["exception"]
        assert "Traceback" not in result["stderr"] + result["stdout"]
        if result["exit"] == 0:
            assert (run_dir / "metrics.json").is_file(), f"exit 0 without metrics.json: {chosen}"
        else:
            assert result["exit"] == 2, (result["exit"], lines[-5:])
            assert len(lines) == 1 and re.match(r"error: \S", lines[0]), lines

    try:
        check()
    finally:
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
