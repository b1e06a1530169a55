"""The direct ONNX graph (one ``LSTM`` op per layer, built from the weights) computes what the torch
model computes: PyTorch's gate order mapped onto ONNX's, ``sequence_lens`` doing the packing, the
LAST layer's final states read, padding never reaching a sentence's result."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bilstm_clf.exporting import onnx_export
from bilstm_clf.exporting.onnx_graph import Unsupported, applies, build_graph, onnx_gate_order
from bilstm_clf.models import BiLSTMClassifier
from bilstm_clf.models.calibrated import TemperatureScaled
from bilstm_clf.models.ensemble import ProbabilityAverage

VOCAB = 30


def session(model, activation="softmax") -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(build_graph(model, activation).SerializeToString(), options, providers=["CPUExecutionProvider"])


def padded_batch(rows: list[list[int]], width: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.zeros((len(rows), width), np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids, np.array([len(r) for r in rows], np.int64)


def test_gate_blocks_go_from_torch_ifgo_to_onnx_iofc():
    hidden = 2
    rows = np.array([[gate * 10 + unit] for gate in range(4) for unit in range(hidden)], np.float32)  # i0 i1 f0 f1 g0 g1 o0 o1
    reordered = onnx_gate_order(rows, hidden)[:, 0].tolist()
    assert reordered == [0, 1, 30, 31, 10, 11, 20, 21]  # i, o, f, c(= g)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hidden=st.integers(1, 6),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    merge=st.sampled_from(["concat", "sum", "mean"]),
    subwords=st.booleans(),
    temperature=st.sampled_from([None, 0.5, 2.5]),
    rows=st.lists(st.lists(st.integers(1, VOCAB - 1), min_size=1, max_size=9), min_size=1, max_size=5),
    extra_padding=st.integers(0, 4),
    seed=st.integers(0, 2**16),
)
def test_direct_graph_equals_the_packed_torch_model_and_padding_changes_nothing(
    hidden, layers, bidirectional, merge, subwords, temperature, rows, extra_padding, seed
):
    torch.manual_seed(seed)
    # the packed encoder is the reference: nn.LSTM over pack_padded_sequence
    model = BiLSTMClassifier(VOCAB, 3, embedding_dim=4, hidden_size=hidden, num_layers=layers, bidirectional=bidirectional,
                             merge_mode=merge, encoder="packed", subword_buckets=7 if subwords else 0).eval()
    if subwords:
        model.subwords.set_vocabulary([f"w{i}ing" for i in range(VOCAB)])
        with torch.no_grad():
            model.subwords.vectors.weight.normal_()
    wrapped = model if temperature is None else TemperatureScaled(model, temperature)
    ids, lengths = padded_batch(rows, max(map(len, rows)) + extra_padding)
    with torch.inference_mode():
        expected = wrapped(torch.from_numpy(ids), torch.from_numpy(lengths)).numpy()
    logits, probabilities = session(wrapped).run(["logits", "probabilities"], {"input_ids": ids, "lengths": lengths})
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(probabilities, torch.softmax(torch.from_numpy(expected), -1).numpy(), atol=1e-6)
    # each sentence alone, unpadded, gets what it got inside the padded batch
    alone = session(wrapped)
    for i, row in enumerate(rows):
        single = alone.run(["logits"], {"input_ids": np.array([row], np.int64), "lengths": np.array([len(row)], np.int64)})[0]
        np.testing.assert_allclose(single[0], logits[i], atol=1e-5, rtol=1e-5)


def test_the_last_layers_states_are_read_not_the_first():
    # a 2-layer model whose layers differ: reading layer 0's states would give other logits
    torch.manual_seed(0)
    model = BiLSTMClassifier(VOCAB, 2, embedding_dim=4, hidden_size=5, num_layers=2).eval()
    ids, lengths = padded_batch([[3, 4, 5], [6, 7]], 4)
    with torch.inference_mode():
        _, final = model.encoder(model.embed(torch.from_numpy(ids)), torch.from_numpy(lengths), need_outputs=False)
        expected = model.head(final.flatten(1)).numpy()
        first_layer = model.encoder.layers[0]
        forward_first = first_layer[0](model.embed(torch.from_numpy(ids)))[0][torch.arange(2), torch.from_numpy(lengths) - 1]
    got = session(model).run(["logits"], {"input_ids": ids, "lengths": lengths})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not torch.allclose(forward_first, final[:, 0], atol=1e-3)


def test_sigmoid_heads_for_multi_label_models():
    model = BiLSTMClassifier(VOCAB, 4, embedding_dim=4, hidden_size=3).eval()
    ids, lengths = padded_batch([[1, 2, 3]], 3)
    logits, probabilities = session(model, "sigmoid").run(None, {"input_ids": ids, "lengths": lengths})
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), atol=1e-6)


def test_models_it_does_not_cover_go_to_the_torch_exporter(tmp_path):
    pooled = BiLSTMClassifier(VOCAB, 2, embedding_dim=4, hidden_size=3, pooling="max").eval()
    ensemble = ProbabilityAverage([BiLSTMClassifier(VOCAB, 2, embedding_dim=4, hidden_size=3) for _ in range(2)]).eval()
    for model in (pooled, ensemble):
        assert not applies(model)
        with pytest.raises(Unsupported):
            build_graph(model)
    assert applies(BiLSTMClassifier(VOCAB, 2, embedding_dim=4, hidden_size=3))
    assert onnx_export.export_onnx(pooled, tmp_path / "max.onnx")["exporter"] == "torchscript"
    with pytest.raises(onnx_export.UserError, match="^ONNX export failed: direct: MaxPooling reads every step"):
        onnx_export.export_onnx(pooled, tmp_path / "forced.onnx", exporter="direct")


def test_a_direct_graph_that_fails_the_check_falls_back_to_torchscript(tmp_path, monkeypatch, caplog):
    model = BiLSTMClassifier(VOCAB, 2, embedding_dim=4, hidden_size=3).eval()
    real_verify = onnx_export.verify_onnx
    calls = []

    def verify_failing_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("onnxruntime and torch disagree by 0.3 (tolerance 0.0001)")
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(onnx_export, "verify_onnx", verify_failing_first)
    with caplog.at_level(logging.WARNING):
        info = onnx_export.export_onnx(model, tmp_path / "model.onnx")
    assert info["exporter"] == "torchscript" and len(calls) == 2
    assert "direct exporter failed, trying the next: onnxruntime and torch disagree by 0.3" in caplog.text
