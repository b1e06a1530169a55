"""Storage changed, not semantics: the streamed, flat-array splits hold exactly what the previous
whole-file path built (every row a Python object, HF's trainer, HF's encoding), for any corpus."""

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bilstm_clf.data.datamodule import TextClassificationDataModule
from bilstm_clf.data.readers import label_order, read_examples
from bilstm_clf.data.tokenizer import Tokenizer
from tests.conftest import write
from tests.data.test_word_ids import hf_trained

WORDS = st.sampled_from(["good", "Bad", "film", "it's", "(fine)", "ok!", ";", ":", "café", "Éclat", "a.b", "x"])
TEXTS = st.lists(WORDS, min_size=1, max_size=6).map(" ".join)
ROWS = st.lists(st.tuples(TEXTS, st.sampled_from(["a", "b", "c", "z"])), min_size=3, max_size=30)


def previous_path(train_path, dev_path, test_path, options):
    """The datamodule as it was: read whole files, carve, HF-trained vocabulary, encode, drop."""
    read = dict(format="tsv", text_field="sentence", label_field="label", on_bad_row="skip")
    train = read_examples(train_path, **read)
    if dev_path is None:
        order = np.random.default_rng(options["split_seed"]).permutation(len(train))
        held = set(order[: max(1, int(round(len(train) * 0.1)))].tolist())
        train, dev = [ex for i, ex in enumerate(train) if i not in held], [train[i] for i in sorted(held)]
    else:
        dev = read_examples(dev_path, **read)
    splits = {"train": train, "val": dev, "test": read_examples(test_path, **read)}
    labels = label_order(ex.label for ex in train)
    vocabulary = hf_trained([ex.text for ex in train], True, "basic_english", options["min_freq"])
    tokenizer = Tokenizer.from_vocabulary(vocabulary, max_length=options["max_length"])
    result = {}
    for split, rows in splits.items():
        rows = [ex for ex in rows if ex.label in labels]
        ids = tokenizer.token_ids([ex.text for ex in rows])
        result[split] = [(row_ids, labels.index(ex.label)) for ex, row_ids in zip(rows, ids) if row_ids]
    return vocabulary, result


@given(ROWS, st.one_of(st.none(), ROWS), ROWS, st.integers(1, 2), st.sampled_from([None, 2]), st.integers(0, 3))
@settings(max_examples=40, deadline=None)
def test_prepared_splits_are_the_previous_paths(tmp_path_factory, train, dev, test, min_freq, max_length, split_seed):
    directory = tmp_path_factory.mktemp("corpus")
    tsv = lambda rows: "sentence\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows)
    train = [(t, label if label != "z" else "a") for t, label in train] + [("good", "a"), ("bad", "b")]
    write(directory / "train.tsv", tsv(train))
    write(directory / "test.tsv", tsv(test))
    if dev is not None:
        write(directory / "dev.tsv", tsv(dev))
    options = dict(min_freq=min_freq, max_length=max_length, split_seed=split_seed)
    try:
        expected_vocabulary, expected = previous_path(directory / "train.tsv", dev and directory / "dev.tsv", directory / "test.tsv", options)
    except Exception:  # noqa: BLE001 — a split with no usable row: both paths refuse it (tests/data/test_bad_rows.py)
        event("refused")
        return
    if any(not rows for rows in expected.values()) or len(expected_vocabulary) <= 2:
        event("refused")
        return
    event("compared")
    dm = TextClassificationDataModule(data_dir=str(directory), train_file="train.tsv", val_file="dev.tsv" if dev is not None else None,
                                      test_file="test.tsv", text_field="sentence", on_bad_row="skip", tokenizer_style="basic_english",
                                      **options)
    dm.setup("fit")
    assert dm.tokenizer.itos() == expected_vocabulary
    for split, rows in expected.items():
        dataset = dm.datasets[split]
        assert [(dataset[i][0].tolist(), dataset[i][1]) for i in range(len(dataset))] == rows, split


def test_vector_words_follow_the_training_vocabulary_and_reach_every_split(tmp_path):
    write(tmp_path / "train.tsv", "sentence\tlabel\ngood film\ta\nbad film\tb\n")
    write(tmp_path / "dev.tsv", "sentence\tlabel\nsplendid film\ta\n")
    write(tmp_path / "test.tsv", "sentence\tlabel\ndreadful u.s. film\tb\n")

    def setup(words, cache_dir):
        dm = TextClassificationDataModule(data_dir=str(tmp_path), train_file="train.tsv", val_file="dev.tsv", test_file="test.tsv",
                                          text_field="sentence", cache_dir=str(cache_dir))
        dm.add_vector_words(words)
        dm.setup("fit")
        return dm

    plain = setup([], tmp_path / "cache")
    dm = setup(["film", "splendid", "u.s.", "dreadful", "splendid"], tmp_path / "cache")  # same cache dir: another key
    assert plain.tokenizer.itos() == ["<pad>", "<unk>", "film", "bad", "good"] and plain.trained_words == 5
    assert dm.tokenizer.itos() == [*plain.tokenizer.itos(), "splendid", "dreadful"]  # known or split words are not added again
    assert dm.trained_words == 5 and dm.vocab_size == 7
    assert dm.datasets["val"][0][0].tolist() == [5, 2]
    assert dm.datasets["test"][0][0].tolist() == [6, 1, 1, 1, 1, 2]  # "u.s." is four tokens, none of them known
    assert dm.token_counts().tolist() == [0, 0, 2, 1, 1, 0, 0]
    with pytest.raises(RuntimeError, match="before setup"):
        dm.add_vector_words(["late"])


def test_vector_words_do_not_hide_an_empty_training_vocabulary(tmp_path):
    write(tmp_path / "train.tsv", "sentence\tlabel\n" + "good film\ta\nbad film\tb\n" * 10)
    dm = TextClassificationDataModule(data_dir=str(tmp_path), train_file="train.tsv", val_file=None, test_file=None,
                                      text_field="sentence", min_freq=100)
    dm.add_vector_words(["good", "film", "splendid"])
    with pytest.raises(Exception, match="min_freq=100"):
        dm.setup("fit")
