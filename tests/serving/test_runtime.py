"""The torch-free runtime: Classifier.load(bundle).predict(texts), and its defined edge cases."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from bilstm_clf.common.errors import DataError
from bilstm_clf.exporting.bundle_writer import export_bundle
from bilstm_clf.serving.runtime import Classifier
from tests.conftest import ROOT
from tests.export_helpers import CORPUS, save_checkpoint, tiny_encoder

LABELS = ["neg", "pos"]
WORDS = sorted({w for text in CORPUS for w in text.split()})


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(bundle dir, the torch model it was exported from, its tokenizer)."""
    root = tmp_path_factory.mktemp("bundle")
    encoder = tiny_encoder(max_length=12)
    checkpoint, model = save_checkpoint(root / "model.ckpt", encoder, LABELS, seed=3)
    bundle = export_bundle(checkpoint, root / "bundle")
    return bundle, model, encoder


@pytest.fixture(scope="module")
def classifier(made):
    return Classifier.load(made[0])


def torch_probabilities(model, encoder, texts):
    ids = encoder.encode_batch(texts)
    lengths = torch.tensor([len(r) for r in ids])
    batch = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
    for i, row in enumerate(ids):
        batch[i, : len(row)] = torch.tensor(row)
    with torch.inference_mode():
        return torch.softmax(model(batch, lengths), dim=-1).numpy()


def test_predict_gives_labels_and_probabilities_equal_to_torch(made, classifier):
    _, model, encoder = made
    texts = [*CORPUS, "an unseen word salad", "great great great great great great great great great great great great great"]
    predictions = classifier.predict(texts)
    expected = torch_probabilities(model, encoder, texts)
    got = np.array([[p.probabilities[label] for label in LABELS] for p in predictions])
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert [p.label for p in predictions] == [LABELS[i] for i in expected.argmax(1)]
    assert len({p.label for p in predictions}) == 2  # the test model does separate texts
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)
    assert classifier.labels == LABELS


def test_texts_without_tokens_get_no_prediction(classifier):
    texts = ["", "   ", "\t \n", ";;; :", "i loved it"]
    predictions = classifier.predict(texts)
    assert [p.empty for p in predictions] == [True, True, True, True, False]
    assert all(p.label is None and p.probabilities is None for p in predictions[:4])
    assert predictions[0].to_dict() == {"label": None, "probabilities": None, "empty": True}
    proba = classifier.predict_proba(texts)
    assert np.isnan(proba[:4]).all() and not np.isnan(proba[4]).any()


def test_long_texts_are_cut_like_training_and_flagged(classifier):
    huge = "great " * 60_000  # 360,000 characters
    started = time.perf_counter()
    long_prediction, short_prediction = classifier.predict([huge, "great " * 12])
    assert time.perf_counter() - started < 10
    assert long_prediction.truncated and not short_prediction.truncated
    # the tokenizer keeps max_length=12 tokens, as in training
    assert long_prediction.probabilities == pytest.approx(short_prediction.probabilities, abs=1e-6)
    assert classifier.predict(["great " * 13])[0].truncated


def test_lone_surrogates_read_as_replacement_characters(classifier):
    # json.loads('"\\ud800"') and undecodable command-line bytes give such strings; the tokenizer
    # itself would raise on them
    odd, replaced = classifier.predict(["i loved \ud800 it \udcff", "i loved \ufffd it \ufffd"])
    assert odd == replaced and odd.label in LABELS


# Any batch size, neighbours or order: a text's probabilities are its own.
texts_strategy = st.lists(st.lists(st.sampled_from([*WORDS, "zzz", ","]), max_size=16).map(" ".join), min_size=1, max_size=12)


@given(texts=texts_strategy, batch_size=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_probabilities_do_not_depend_on_batching_or_order(classifier, texts, batch_size, seed):
    together = classifier.predict_proba(texts, batch_size=batch_size)
    alone = np.stack([classifier.predict_proba([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-6, rtol=0, equal_nan=True)
    order = np.random.default_rng(seed).permutation(len(texts))
    shuffled = classifier.predict_proba([texts[i] for i in order], batch_size=batch_size)
    np.testing.assert_allclose(shuffled, together[order], atol=1e-6, rtol=0, equal_nan=True)


def test_predict_stream_reads_lazily(classifier):
    consumed = 0

    def endless():
        nonlocal consumed
        for i in itertools.count():
            consumed += 1
            yield CORPUS[i % len(CORPUS)]

    first = list(itertools.islice(classifier.predict_stream(endless(), chunk_size=4), 10))
    assert len(first) == 10 and all(p.label in LABELS for p in first)
    assert consumed <= 12  # three batches of 4, never the whole (endless) input


def test_predict_rejects_a_bare_string(classifier):
    with pytest.raises(TypeError, match="sequence of texts"):
        classifier.predict("i loved it")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: shutil.rmtree(b), "not a bundle directory (not found)"),
        (lambda b: (b / "model.onnx").unlink(), "missing model.onnx"),
        (lambda b: (b / "metadata.json").write_text("{oops"), "metadata.json: cannot read JSON"),
        (lambda b: (b / "metadata.json").write_text(json.dumps({"format": "bilstm_clf.bundle", "format_version": 99})), "format version 99"),
        (lambda b: (b / "labels.json").write_text('["a", "b", "c"]'), "3 labels but the model has 2 classes"),
        (lambda b: (b / "model.onnx").write_bytes(b"not onnx at all"), "model.onnx: cannot load the ONNX model"),
        (lambda b: (b / "tokenizer.json").write_text("{}"), "tokenizer.json: cannot load the tokenizer"),
    ],
)
def test_a_damaged_bundle_is_one_clear_error(made, tmp_path, damage, message):
    bundle = tmp_path / "bundle"
    shutil.copytree(made[0], bundle)
    damage(bundle)
    with pytest.raises(DataError) as err:
        Classifier.load(bundle)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(bundle) in str(err.value)


BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = {"torch", "pytorch_lightning", "lightning", "lightning_fabric", "torchmetrics", "hydra", "omegaconf"}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
    sys.meta_path.insert(0, Block())
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]
    try:
        import torch
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker does not work")
    """
)


def test_runtime_and_cli_run_with_torch_lightning_and_hydra_unimportable(made, classifier, tmp_path):
    bundle = made[0]
    texts = ["i loved it", "a dull , boring mess", ""]
    script = BLOCKER + textwrap.dedent(
        f"""
        import json
        from bilstm_clf.serving.runtime import Classifier
        predictions = Classifier.load({str(bundle)!r}).predict({texts!r})
        assert not any(name.split(".")[0] in BLOCKED for name in sys.modules), "a blocked module was imported"
        print(json.dumps([p.to_dict(digits=None) for p in predictions]))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = [p.to_dict(digits=None) for p in classifier.predict(texts)]
    assert json.loads(result.stdout) == expected

    # the command-line tool, too
    cli = BLOCKER + "import runpy\nrunpy.run_module('bilstm_clf.predict', run_name='__main__')\n"
    result = subprocess.run(
        [sys.executable, "-c", cli, "--bundle", str(bundle), *texts], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert [json.loads(line)["label"] for line in result.stdout.splitlines()] == [p["label"] for p in expected]
