"""Bundle == checkpoint: onnxruntime probabilities equal the torch model's within 1e-5 on the whole
SST-2 test set (1,821 sentences, raw text through each side's tokenizer), for every pooling
variant, uni- and bidirectional.

Each variant is exported the way ``auto`` exports it: the direct graph for last-state pooling,
the TorchScript exporter for the others (about a second each), and the default model with the
TorchScript exporter as well. The dynamo exporter (``exporter=dynamo``, and auto's fallback) takes 4-13 s per export on a
busy 2-core machine, so it gets the default model's variants (last state, concat) in both
directions. Every export is also checked against torch by ``verify_onnx`` on varied batch sizes
and lengths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bilstm_clf.data.readers import read_examples
from bilstm_clf.data.tokenizer import Tokenizer
from bilstm_clf.exporting.bundle_writer import export_bundle
from bilstm_clf.exporting.checkpoints import load_checkpoint_dict
from bilstm_clf.serving.runtime import Classifier
from bilstm_clf.models import BiLSTMClassifier
from tests.conftest import SHARED_DATASETS
from tests.export_helpers import save_checkpoint

SST2 = SHARED_DATASETS / "sst2"
POOLINGS = [("last", "concat"), ("last", "sum"), ("last", "mean"), ("mean", "concat"), ("max", "concat"), ("attention", "concat")]
# Vary what else a checkpoint can be: the encoder it was trained with (bundles always use the
# exact padded one) and depth, without multiplying the number of exports.
VARIANTS = [
    pytest.param(pooling, merge, bidirectional, "packed" if i % 2 else "padded", 2 if i in (2, 5, 9) else 1,
                 "direct" if pooling == "last" else "torchscript", id=f"{pooling}-{merge}-{'bi' if bidirectional else 'uni'}")
    for i, (bidirectional, (pooling, merge)) in enumerate((b, p) for b in (True, False) for p in POOLINGS)
] + [
    # the default model through the torch exporter too: auto's fallback when the direct graph fails
    pytest.param("last", "concat", True, "padded", 2, "torchscript", id="last-concat-bi-torchscript"),
] + [
    pytest.param("last", "concat", bidirectional, "padded", 1, "dynamo", id=f"last-concat-{'bi' if bidirectional else 'uni'}-dynamo")
    for bidirectional in (True, False)
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # On a busy 2-core machine torch's second OpenMP thread makes these small LSTMs 5-40x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sst2():
    if not (SST2 / "test.tsv").is_file() or not (SST2 / "train.tsv").is_file():
        pytest.skip(f"needs the SST-2 files in {SST2}")
    train = read_examples(SST2 / "train.tsv", format="tsv", text_field="sentence", label_field="label")
    test = read_examples(SST2 / "test.tsv", format="tsv", text_field="sentence", label_field="label")
    encoder = Tokenizer.build((ex.text for ex in train), lowercase=True, style="whitespace", max_length=200)
    return encoder, [ex.text for ex in test]


def checkpoint_probabilities(path, texts, batch_size=256) -> np.ndarray:
    """The checkpoint's own model (its configured encoder), in torch, from raw text."""
    checkpoint = load_checkpoint_dict(path)
    model = BiLSTMClassifier(**checkpoint["hyper_parameters"]["model_config"])
    model.load_state_dict({k[len("model."):]: v for k, v in checkpoint["state_dict"].items()})
    model.eval()
    encoder = Tokenizer.from_json(checkpoint["bilstm_clf"]["tokenizer_json"])
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            ids = encoder.encode_batch(texts[start : start + batch_size])
            lengths = torch.tensor([len(r) for r in ids])
            batch = torch.nn.utils.rnn.pad_sequence([torch.tensor(r) for r in ids], batch_first=True)
            out.append(torch.softmax(model(batch, lengths), dim=-1).numpy())
    return np.concatenate(out)


@pytest.mark.parametrize(("pooling", "merge_mode", "bidirectional", "encoder", "num_layers", "exporter"), VARIANTS)
def test_bundle_equals_checkpoint_on_sst2_test(sst2, tmp_path, pooling, merge_mode, bidirectional, encoder, num_layers, exporter):
    tokenizer, texts = sst2
    assert len(texts) == 1821
    checkpoint, _ = save_checkpoint(
        tmp_path / "model.ckpt", tokenizer, ["0", "1"], seed=len(pooling) + num_layers,
        embedding_dim=32, hidden_size=32, attention_size=16, pooling=pooling, merge_mode=merge_mode,
        bidirectional=bidirectional, encoder=encoder, num_layers=num_layers,
    )
    expected = checkpoint_probabilities(checkpoint, texts)
    classifier = Classifier.load(export_bundle(checkpoint, tmp_path / "bundle", exporter=exporter))
    assert classifier.metadata["onnx"]["exporter"] == exporter
    got = classifier.predict_proba(texts)
    assert got.shape == expected.shape == (1821, 2)
    assert np.abs(got - expected).max() <= 1e-5
    assert 0.02 < expected[:, 1].std()  # the model is not constant: the comparison means something
