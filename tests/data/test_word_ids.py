"""WordIndex (the corpus-scale path to word ids) against HF tokenizers, its reference: the same
vocabulary as HF's WordLevelTrainer and the same ids as the tokenizer.json predict uses."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer

from bilstm_clf.data.tokenizer import PAD, SPECIALS, UNK, Tokenizer, _normalizer
from bilstm_clf.data.word_ids import WordIndex, ranked_vocabulary
from tokenizers import pre_tokenizers

# ASCII punctuation the rules touch, whitespace (and the separator controls Python splits on),
# case, and Unicode that normalises (combining accents, final sigma, dotted I, NBSP, U+2028)
ALPHABET = "aAbB '\".,()!?;:<br/>\t\n\x0b\x0c\r\x1c\x1f\x00éE\u0301ΣσςİßﬁÅ\u00a0\u2028\u3000😀"
texts = st.lists(st.text(alphabet=ALPHABET, max_size=30), min_size=1, max_size=25)
styles = st.sampled_from(["basic_english", "whitespace"])


def hf_trained(corpus, lowercase, style, min_freq=1, max_size=None):
    """The vocabulary as HF's own trainer counts it (the tokenizer this project used to build)."""
    hf = HFTokenizer(WordLevel(unk_token=UNK))
    hf.normalizer = _normalizer(lowercase, style)
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = WordLevelTrainer(vocab_size=(max_size + 2) if max_size else 2**31 - 1, min_frequency=min_freq,
                               special_tokens=list(SPECIALS), show_progress=False)
    hf.train_from_iterator(corpus, trainer=trainer)
    vocab = hf.get_vocab()
    return sorted(vocab, key=vocab.get)


@given(texts, styles, st.booleans(), st.integers(1, 3), st.sampled_from([None, 1, 3, 50]))
@settings(max_examples=150, deadline=None)
def test_vocabulary_is_hf_trainers(corpus, style, lowercase, min_freq, max_size):
    built = Tokenizer.build(corpus, lowercase=lowercase, style=style, min_freq=min_freq, max_size=max_size, chunk_size=7)
    assert built.itos() == hf_trained(corpus, lowercase, style, min_freq, max_size)


@given(texts, texts, styles, st.booleans())
@settings(max_examples=150, deadline=None)
def test_ids_are_the_tokenizer_json_ids(train, other, style, lowercase):
    tokenizer = Tokenizer.build(train, lowercase=lowercase, style=style)
    index = WordIndex(lowercase=lowercase, style=style)
    index.encode(train[::2])  # provisional ids depend on what came first; the final ids must not
    ids, lengths = index.encode(other)
    final = index.final_ids(tokenizer.itos())[ids]
    expected = tokenizer.token_ids(other)
    assert lengths.tolist() == [len(e) for e in expected]
    assert final.tolist() == [i for e in expected for i in e]


def test_ascii_and_unicode_texts_mixed_in_one_chunk_keep_their_order():
    index = WordIndex()
    ids, lengths = index.encode(["Hello, world", "Ça va ?", "", "it's fine."])
    words = index.words()
    assert lengths.tolist() == [3, 3, 0, 5]
    assert [words[i] for i in ids] == ["hello", ",", "world", "ça", "va", "?", "it", "'", "s", "fine", "."]


def test_literal_specials_in_text_keep_their_ids_and_never_shift_the_vocabulary():
    # HF's trainer numbered a frequent literal "<unk>" as a word and overwrote the specials' ids
    tokenizer = Tokenizer.build(["<unk> <unk> <unk> b a", "a b <pad> c c"], style="whitespace")
    assert tokenizer.itos() == [PAD, UNK, "a", "b", "c"]
    assert tokenizer.encode("<pad> <unk> c") == [0, 1, 4]


def test_max_size_keeps_the_most_frequent_with_alphabetical_ties():
    words = ["x", "b", "a", "c", "d", None]
    counts = np.array([5, 2, 2, 2, 1, 9])
    assert ranked_vocabulary(words, counts, max_size=3) == [PAD, UNK, "x", "a", "b"]
    assert ranked_vocabulary(words, counts, min_freq=2) == [PAD, UNK, "x", "a", "b", "c"]
