from hypothesis import given, settings
from hypothesis import strategies as st

from bilstm_clf.data.tokenizer import PAD, UNK, Tokenizer, load_labels, save_labels

TEXTS = ["the cat sat", "the dog sat", "the cat ran", "a bird"]


def test_specials_first_then_by_frequency_then_alphabetically():
    enc = Tokenizer.build(TEXTS, style="whitespace")
    assert enc.itos()[:2] == [PAD, UNK]
    assert enc.itos()[2:] == ["the", "cat", "sat", "a", "bird", "dog", "ran"]


def test_min_freq_and_max_size():
    assert Tokenizer.build(TEXTS, min_freq=2).itos() == [PAD, UNK, "the", "cat", "sat"]
    assert Tokenizer.build(TEXTS, max_size=2).itos() == [PAD, UNK, "the", "cat"]


def test_basic_english_matches_torchtext_rules():
    enc = Tokenizer.build(["x"], style="basic_english")
    tokens = enc.hf.pre_tokenizer.pre_tokenize_str(enc.hf.normalizer.normalize_str('Don\'t (STOP), me: "now"! <br />ok.'))
    assert [t for t, _ in tokens] == ["don", "'", "t", "(", "stop", ")", ",", "me", "now", "!", "ok", "."]


def test_unknown_words_empty_text_and_truncation():
    enc = Tokenizer.build(TEXTS, max_length=3)
    assert enc.encode("the zebra") == [2, 1]
    assert enc.encode("") == [enc.unk_id]
    assert enc.encode_batch(["the cat sat the cat sat", "   "]) == [[2, 3, 4], [1]]


def test_lowercase_option():
    upper = Tokenizer.build(["The CAT"], lowercase=False, style="whitespace")
    assert upper.itos()[2:] == ["CAT", "The"]
    assert Tokenizer.build(["The CAT"], lowercase=True).itos()[2:] == ["cat", "the"]


def test_round_trip_through_json_and_file(tmp_path):
    enc = Tokenizer.build(TEXTS, max_length=5, min_freq=1)
    path = tmp_path / "tokenizer.json"
    enc.save(path)
    loaded = Tokenizer.load(path)
    assert loaded.itos() == enc.itos()
    assert loaded.max_length == 5
    probe = ["The cat SAT on a mat today again and again", "dog", ""]
    assert loaded.encode_batch(probe) == enc.encode_batch(probe)
    save_labels(["neg", "pos"], tmp_path / "labels.json")
    assert load_labels(tmp_path / "labels.json") == ["neg", "pos"]


@given(st.lists(st.text(alphabet="abc ,.'!ÉéX\u0301\t", max_size=40), min_size=1, max_size=20))
@settings(max_examples=60, deadline=None)
def test_batch_encoding_is_text_by_text_encoding(texts):
    # the batch path (encode_batch_fast where tokenizers has it) and predict's one-text path agree,
    # truncation included
    for style in ("basic_english", "whitespace"):
        enc = Tokenizer.build(["a b c , . ' ! é x ab ba"], style=style, max_length=5)
        assert enc.encode_batch(texts) == [enc.encode(t) for t in texts]


def test_own_words_are_the_words_read_back_as_themselves():
    tok = Tokenizer.build(["a b"])
    assert tok.own_words(["splendid", "u.s.", "Paris", "don't", "<unk>", "state-of-the-art", "42"]) == ["splendid", "state-of-the-art", "42"]
