"""The pure parts of the TensorBoard panels: matrices, pictures, markdown."""

import html
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tensorboard.plugin_util import markdown_to_safe_html

from bilstm_clf.training.tb_panels import (
    ErrorSample,
    confusion_matrix,
    confusion_matrix_image,
    confusion_matrix_markdown,
    markdown_escape,
    misclassified_markdown,
    row_normalise,
    softmax,
)


@st.composite
def predictions(draw):
    classes = draw(st.integers(2, 8))
    n = draw(st.integers(0, 200))
    labels = st.integers(0, classes - 1)
    true = np.array(draw(st.lists(labels, min_size=n, max_size=n)), dtype=np.int64)
    pred = np.array(draw(st.lists(labels, min_size=n, max_size=n)), dtype=np.int64)
    return classes, true, pred


@given(predictions())
def test_confusion_matrix_margins_are_the_label_and_prediction_counts(case):
    classes, true, pred = case
    counts = confusion_matrix(true, pred, classes)
    assert counts.shape == (classes, classes)
    assert counts.sum() == len(true)
    assert np.array_equal(counts.sum(axis=1), np.bincount(true, minlength=classes))
    assert np.array_equal(counts.sum(axis=0), np.bincount(pred, minlength=classes))
    assert np.trace(counts) == int((true == pred).sum())


@given(predictions())
def test_row_normalised_rows_are_distributions_and_the_diagonal_is_recall(case):
    classes, true, pred = case
    normalised = row_normalise(confusion_matrix(true, pred, classes))
    for c in range(classes):
        members = true == c
        if members.any():
            assert normalised[c].sum() == pytest.approx(1.0)
            assert normalised[c, c] == pytest.approx((pred[members] == c).mean())
        else:
            assert not normalised[c].any()  # a class absent from the split: a row of zeros, no NaN


@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(2, 6)), elements=st.floats(-50, 50)))
def test_softmax_rows_are_distributions_ordered_as_the_logits(logits):
    probs = softmax(logits)
    assert np.allclose(probs.sum(axis=1), 1.0)
    for row_logits, row_probs in zip(logits, probs):
        assert np.all(np.diff(row_probs[np.argsort(row_logits, kind="stable")]) >= 0)


def rendered_cells(markdown: str) -> list[list[str]]:
    """Table cells as TensorBoard's text dashboard shows them (its own markdown renderer)."""
    page = markdown_to_safe_html(markdown)
    rows = re.findall(r"<tr>(.*?)</tr>", page, flags=re.S)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S) for row in rows]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in row] for row in cells]


# single lines of any printable text, markdown and HTML syntax included
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")), min_size=1, max_size=60)


@given(TEXT)
def test_escaped_text_renders_literally_in_a_table_cell(text):
    table = "| a | b |\n|---|---|\n| " + markdown_escape(text) + " | end |"
    assert rendered_cells(table)[1] == [" ".join(text.split()), "end"]


def test_confusion_matrix_markdown_has_the_counts_and_totals():
    counts = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])
    cells = rendered_cells(confusion_matrix_markdown(counts, ["neg", "neu|tral", "pos"]))
    assert cells[0] == ["true \\ predicted", "neg", "neu|tral", "pos", "total"]
    assert cells[1:] == [["neg", "5", "1", "0", "6"], ["neu|tral", "2", "3", "1", "6"], ["pos", "0", "0", "4", "4"]]
    assert "16 sentences, accuracy 0.7500" in confusion_matrix_markdown(counts, ["a", "b", "c"])


def test_misclassified_sample_is_wrong_rows_most_confident_first():
    rng = np.random.default_rng(0)
    texts = [f"sentence {i} with a | pipe and *stars*" for i in range(50)]
    true = rng.integers(0, 3, size=50)
    probs = softmax(rng.normal(size=(50, 3)) * 3)
    wrong = int((probs.argmax(axis=1) != true).sum())
    report = misclassified_markdown(texts, true, probs, ["a", "b", "c"], ErrorSample(7, seed=1))
    assert report.startswith(f"{wrong} of 50 sentences misclassified; 7 shown")
    rows = rendered_cells(report)[1:]
    assert len(rows) == 7
    confidences = [float(r[3]) for r in rows]
    assert confidences == sorted(confidences, reverse=True)
    for sentence, true_name, pred_name, confidence, p_true in rows:
        i = texts.index(sentence)
        assert true_name == "abc"[true[i]] and pred_name == "abc"[probs[i].argmax()] != true_name
        assert float(confidence) == pytest.approx(probs[i].max(), abs=5e-4)
        assert float(p_true) == pytest.approx(probs[i, true[i]], abs=5e-4)
    # the same seed picks the same sentences
    assert misclassified_markdown(texts, true, probs, ["a", "b", "c"], ErrorSample(7, seed=1)) == report


def test_misclassified_without_mistakes_says_so():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert misclassified_markdown(["x", "y"], np.array([0, 1]), probs, ["n", "p"], ErrorSample(5)) == "0 of 2 sentences misclassified."


def test_long_sentences_are_shortened():
    probs = np.array([[0.9, 0.1]])
    report = misclassified_markdown(["word " * 100], np.array([1]), probs, ["n", "p"], ErrorSample(5, max_chars=40))
    assert len(rendered_cells(report)[1][0]) == 40 and rendered_cells(report)[1][0].endswith("…")


def test_confusion_matrix_image_is_an_rgb_picture_that_grows_with_the_classes():
    heights = []
    for classes in (2, 5, 12):
        counts = np.arange(classes * classes).reshape(classes, classes)
        image = confusion_matrix_image(counts, [f"class{i}" for i in range(classes)], "title", normalised=False)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert 300 <= image.shape[0] <= 1200 and 300 <= image.shape[1] <= 1400
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20  # drawn, not blank
        normalised = confusion_matrix_image(row_normalise(counts), [str(i) for i in range(classes)], "t", normalised=True)
        assert normalised.shape == image.shape
        heights.append(image.shape[0])
    assert heights[0] < heights[1] < heights[2]
