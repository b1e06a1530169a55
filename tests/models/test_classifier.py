"""Model semantics: LSTM output layout, final states, padding invariance, parameter counts."""

import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from bilstm_clf.models import BiLSTMClassifier
from bilstm_clf.models.lstm import ENCODERS, PackedLSTMEncoder, PaddedLSTMEncoder, reverse_within_length, set_forget_bias
from bilstm_clf.models.pooling import POOLINGS

VOCAB = 50


def make_model(seed=0, **kwargs) -> BiLSTMClassifier:
    torch.manual_seed(seed)
    defaults = dict(vocab_size=VOCAB, num_classes=3, embedding_dim=8, hidden_size=6, attention_size=5)
    return BiLSTMClassifier(**(defaults | kwargs)).eval()


def pad(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    ids = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.int64)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq)
    return ids, lengths


sentence_st = st.lists(st.integers(2, VOCAB - 1), min_size=1, max_size=12)


@given(
    target=sentence_st,
    others=st.lists(sentence_st, min_size=1, max_size=5),
    position=st.integers(0, 5),
    extra_padding=st.integers(0, 4),
    pooling=st.sampled_from(list(POOLINGS)),
    merge_mode=st.sampled_from(["concat", "sum", "mean"]),
    bidirectional=st.booleans(),
    num_layers=st.integers(1, 3),
    encoder=st.sampled_from(ENCODERS),
)
def test_padding_never_changes_a_sentences_logits(target, others, position, extra_padding, pooling, merge_mode, bidirectional, num_layers, encoder):
    model = make_model(pooling=pooling, merge_mode=merge_mode, bidirectional=bidirectional, num_layers=num_layers, lstm_dropout=0.3, encoder=encoder)
    with torch.no_grad():
        alone = model(*pad([target]))[0]
        batch = others[:position] + [target] + others[position:]
        ids, lengths = pad(batch)
        ids = torch.cat([ids, torch.zeros(len(batch), extra_padding, dtype=torch.int64)], dim=1)
        inside = model(ids, lengths)[min(position, len(others))]
    torch.testing.assert_close(inside, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_bidirectional_output_layout_and_last_layer_final_states(num_layers):
    torch.manual_seed(0)
    hidden = 5
    lstm = nn.LSTM(4, hidden, num_layers=num_layers, batch_first=True, bidirectional=True)
    x = torch.randn(1, 7, 4)
    out, (h_n, c_n) = lstm(x)
    # out[..., :H] is forward, out[..., H:] backward; h_n[-2]/h_n[-1] are the LAST layer's final states
    torch.testing.assert_close(out[:, -1, :hidden], h_n[-2])
    torch.testing.assert_close(out[:, 0, hidden:], h_n[-1])
    if num_layers > 1:
        assert not torch.allclose(h_n[0], h_n[-2])  # h_n[0] is the first layer: the wrong state to use


@pytest.mark.parametrize("num_layers", [1, 3])
def test_encoder_final_states_are_taken_at_each_real_last_token(num_layers):
    torch.manual_seed(0)
    encoder = PackedLSTMEncoder(4, 5, num_layers=num_layers, bidirectional=True).eval()
    x = torch.randn(3, 6, 4)
    lengths = torch.tensor([6, 2, 4])
    with torch.no_grad():
        outputs, final = encoder(x, lengths)
    for row, length in enumerate(lengths.tolist()):
        torch.testing.assert_close(outputs[row, length - 1, :5], final[row, 0])  # forward ends at the last real token
        torch.testing.assert_close(outputs[row, 0, 5:], final[row, 1])  # backward ends at the first token
        assert torch.all(outputs[row, length:] == 0)
        # the backward direction started at the real last token: same as running the sentence alone
        alone, _ = encoder(x[row : row + 1, :length], lengths[row : row + 1])
        torch.testing.assert_close(outputs[row, :length], alone[0], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("encoder_class", [PackedLSTMEncoder, PaddedLSTMEncoder])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_parameter_count_is_four_gates_per_direction_and_layer(encoder_class, bidirectional, num_layers):
    E, H = 7, 5
    encoder = encoder_class(E, H, num_layers=num_layers, bidirectional=bidirectional)
    directions = 2 if bidirectional else 1
    expected = 0
    for layer in range(num_layers):
        layer_input = E if layer == 0 else directions * H
        expected += directions * 4 * (H * (layer_input + H) + 2 * H)
    assert sum(p.numel() for p in encoder.parameters()) == expected


def test_forget_bias_sets_f_gate_total_bias_only():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    before = {n: p.detach().clone() for n, p in lstm.named_parameters()}
    set_forget_bias(lstm, 1.0)
    for name, param in lstm.named_parameters():
        if name.startswith("bias_ih"):
            twin = name.replace("bias_ih", "bias_hh")
            total = param + dict(lstm.named_parameters())[twin]
            assert torch.all(total[4:8] == 1.0)  # gate order i, f, g, o: f is the second block
            torch.testing.assert_close(param[:4], before[name][:4])
            torch.testing.assert_close(param[8:], before[name][8:])


@pytest.mark.parametrize(
    ("pooling", "merge_mode", "bidirectional", "width"),
    [("last", "concat", True, 12), ("last", "sum", True, 6), ("last", "mean", True, 6), ("last", "concat", False, 6),
     ("mean", "concat", True, 12), ("max", "concat", False, 6), ("attention", "concat", True, 12)],
)
def test_sentence_vector_width(pooling, merge_mode, bidirectional, width):
    model = make_model(pooling=pooling, merge_mode=merge_mode, bidirectional=bidirectional)
    assert model.head.in_features == width
    ids, lengths = pad([[2, 3, 4], [5]])
    assert model(ids, lengths).shape == (2, 3)


def test_last_pooling_concat_is_forward_then_backward_final_state():
    model = make_model(pooling="last", encoder="packed")
    ids, lengths = pad([[2, 3, 4, 5], [6, 7]])
    with torch.no_grad():
        vectors = model.sentence_vectors(model.embed(ids), lengths)
        _, (h_n, _) = model.encoder.lstm(model.embedding(ids[1:, :2]))
    torch.testing.assert_close(vectors[1], torch.cat([h_n[-2][0], h_n[-1][0]]))


def test_padding_embedding_is_zero_and_gets_no_gradient():
    model = make_model().train()
    ids, lengths = pad([[2, 3], [4]])
    model(ids, lengths).sum().backward()
    assert torch.all(model.embedding.weight[0] == 0)
    assert torch.all(model.embedding.weight.grad[0] == 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [(dict(pooling="min"), "unknown pooling 'min'; expected one of attention, last, mean, max"),
     (dict(hidden_size=0), "hidden_size=0: must be a positive integer"),
     (dict(merge_mode="mul"), "unknown merge mode 'mul'"),
     (dict(encoder="cudnn"), "unknown encoder 'cudnn'"),
     (dict(output_dropout=1.5), "output_dropout=1.5: must be a probability")],
)
def test_bad_model_arguments_are_plain_value_errors(kwargs, message):
    """The model knows no config keys; the config checks name them (tests/training/test_configs.py)."""
    with pytest.raises(ValueError, match=re.escape(message)):
        make_model(**kwargs)


@given(
    lengths=st.lists(st.integers(1, 15), min_size=1, max_size=9),
    extra_padding=st.integers(0, 3),
    bidirectional=st.booleans(),
    num_layers=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_exact_padded_encoder_equals_packed_lstm(lengths, extra_padding, bidirectional, num_layers, seed):
    torch.manual_seed(seed)
    packed = PackedLSTMEncoder(6, 5, num_layers=num_layers, bidirectional=bidirectional, forget_bias=None).eval()
    padded = PaddedLSTMEncoder(6, 5, num_layers=num_layers, bidirectional=bidirectional).eval()
    padded.load_state_dict(packed.state_dict())  # same parameter names, so the weights carry over
    x = torch.randn(len(lengths), max(lengths) + extra_padding, 6)
    lengths_t = torch.tensor(lengths)
    with torch.no_grad():
        packed_out, packed_final = packed(x, lengths_t)
        padded_out, padded_final = padded(x, lengths_t)
        no_outputs, final_only = padded(x, lengths_t, need_outputs=False)  # skips the last re-alignment
    torch.testing.assert_close(padded_out, packed_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded_final, packed_final, atol=1e-5, rtol=1e-5)
    assert no_outputs is None
    torch.testing.assert_close(final_only, packed_final, atol=1e-5, rtol=1e-5)


def test_encoders_share_parameter_names_and_gradients_match():
    torch.manual_seed(0)
    packed = PackedLSTMEncoder(4, 3, num_layers=2, bidirectional=True)
    padded = PaddedLSTMEncoder(4, 3, num_layers=2, bidirectional=True)
    assert list(padded.state_dict()) == list(packed.state_dict())
    padded.load_state_dict(packed.state_dict())
    x, lengths = torch.randn(3, 5, 4), torch.tensor([5, 2, 3])
    packed(x, lengths)[1].sum().backward()
    padded(x, lengths)[1].sum().backward()
    grads = {n: p.grad for n, p in packed.lstm.named_parameters()}
    for layer in range(2):
        for direction in range(2):
            lstm = padded.layers[layer][direction]
            suffix = "_reverse" if direction else ""
            torch.testing.assert_close(lstm.weight_hh_l0.grad, grads[f"weight_hh_l{layer}{suffix}"], atol=1e-5, rtol=1e-5)


@given(lengths=st.lists(st.integers(1, 8), min_size=1, max_size=6), extra=st.integers(0, 3))
def test_reverse_within_length_reverses_real_steps_and_keeps_padding_at_the_end(lengths, extra):
    x = torch.arange(len(lengths) * (max(lengths) + extra)).view(len(lengths), -1, 1).float()
    lengths_t = torch.tensor(lengths)
    flipped = reverse_within_length(x, lengths_t)
    for row, length in enumerate(lengths):
        assert torch.equal(flipped[row, :length], x[row, :length].flip(0))
        assert torch.equal(flipped[row, length:], x[row, length:])
    assert torch.equal(reverse_within_length(flipped, lengths_t), x)


def test_word_dropout_replaces_only_real_tokens_by_unk_and_only_while_training():
    model = make_model(word_dropout=0.5)
    ids, lengths = pad([[2, 3, 4, 5, 6, 7, 8, 9], [10, 11]])
    seen = []
    model.embedding.register_forward_hook(lambda module, args, out: seen.append(args[0].clone()))
    model.eval()(ids, lengths)
    assert torch.equal(seen[-1], ids)  # evaluation (and export) sees every word
    torch.manual_seed(0)
    model.train()(ids, lengths)
    dropped = seen[-1] != ids
    assert dropped.any() and torch.all(seen[-1][dropped] == 1)  # <unk>
    assert torch.all(seen[-1][ids == 0] == 0)  # padding stays padding


def test_classify_on_embedded_words_is_forward():
    model = make_model()
    ids, lengths = pad([[2, 3, 4], [5]])
    with torch.no_grad():
        torch.testing.assert_close(model.classify(model.embed(ids), lengths), model(ids, lengths))


def test_subword_ngrams_are_fasttext_style_and_stable():
    from bilstm_clf.models.subwords import fnv1a, ngram_ids

    assert fnv1a("") == 2166136261 and fnv1a("a") == 0xE40C292C  # FNV-1a 32-bit reference values
    table = ngram_ids(["<pad>", "<unk>", "fun", "unfunny"], buckets=1000, per_word=8)
    assert table[:2].eq(0).all()
    # "<fun>": <fu fun un> <fun fun> <fun> -> 3 + 2 + 1 = 6 distinct n-grams
    assert (table[2] != 0).sum() == 6 and table.max() <= 1000
    shared = set(table[2].tolist()) & set(table[3].tolist()) - {0}
    assert shared  # "fun", "un>" ... spelling shared between the words is shared in the table
    assert torch.equal(table, ngram_ids(["<pad>", "<unk>", "fun", "unfunny"], buckets=1000, per_word=8))


def test_subword_vectors_join_the_word_vectors_and_keep_padding_invariance():
    model = make_model(subword_buckets=97)
    words = ["<pad>", "<unk>"] + [f"w{i}ord" for i in range(VOCAB - 2)]
    model.subwords.set_vocabulary(words)
    ids, lengths = pad([[2, 3, 4], [5]])
    with torch.no_grad():
        expected = model.embedding(ids) + model.subwords(ids)
        torch.testing.assert_close(model.embed(ids), expected)
        assert torch.all(model.subwords(ids)[ids == 0] == 0) and torch.all(model.subwords(torch.tensor([[1]])) == 0)
        wide_ids = torch.cat([ids, torch.zeros(2, 4, dtype=torch.long)], 1)
        torch.testing.assert_close(model(wide_ids, lengths), model(ids, lengths))


def test_frozen_words_keep_their_vectors_and_stay_out_of_the_optimiser():
    """``frozen_words``: the last ids read a fixed buffer (embeddings.vocab_from_vectors), never the
    trained table; no parameter holds their rows, so no optimiser step can move them."""
    model = make_model(frozen_words=10).train()
    assert model.vocab_size == VOCAB and model.embedding.num_embeddings == VOCAB - 10
    torch.manual_seed(1)
    model.frozen_vectors.copy_(torch.randn(10, 8))
    before = model.frozen_vectors.clone()
    ids = torch.tensor([[2, VOCAB - 10, VOCAB - 1, 0]])
    embedded = model.word_vectors(ids)[0]
    torch.testing.assert_close(embedded[1], before[0])
    torch.testing.assert_close(embedded[2], before[9])
    torch.testing.assert_close(embedded[0], model.embedding.weight[2])
    assert torch.all(embedded[3] == 0)  # padding
    assert all(p.numel() != before.numel() or p is not model.frozen_vectors for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(ids, torch.tensor([3])).sum().backward()
    assert model.embedding.weight.grad[1].abs().sum() == 0  # a frozen id is not <unk> in disguise
    optimizer.step()
    torch.testing.assert_close(model.frozen_vectors, before)
    assert "frozen_vectors" in model.state_dict()
    assert "frozen_vectors" not in make_model().state_dict()


@given(target=st.lists(st.integers(2, VOCAB - 1), min_size=1, max_size=10), extra_padding=st.integers(0, 3))
def test_frozen_words_keep_padding_invariance(target, extra_padding):
    model = make_model(frozen_words=20)
    with torch.no_grad():
        model.frozen_vectors.normal_()
        alone = model(*pad([target]))[0]
        ids, lengths = pad([target, [2, 3, VOCAB - 1] * 4])
        ids = torch.cat([ids, torch.zeros(2, extra_padding, dtype=torch.int64)], dim=1)
        torch.testing.assert_close(model(ids, lengths)[0], alone, atol=1e-5, rtol=1e-5)


def test_frozen_words_cannot_eat_the_specials():
    with pytest.raises(ValueError, match=re.escape("frozen_words=49: must be an integer in [0, vocab_size - 2 = 48]")):
        make_model(frozen_words=49)
