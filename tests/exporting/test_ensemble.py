"""K checkpoints as ONE bundle: one ONNX graph averaging the members' probabilities."""

import numpy as np
import pytest
import torch

from bilstm_clf.common.errors import UserError
from bilstm_clf.exporting.bundle_writer import export_ensemble
from bilstm_clf.serving.runtime import Classifier
from tests.conftest import ROOT, run_cli
from tests.export_helpers import CORPUS, save_checkpoint, tiny_encoder

TEXTS = CORPUS + ["a great mess", "unknownword", "i loved the boring film , it was great and tedious"]


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    tokenizer = tiny_encoder()
    # different seeds and poolings: the ensemble must not assume identical members
    made = [save_checkpoint(root / f"m{i}.ckpt", tokenizer, ["neg", "pos"], seed=i, pooling=pooling)
            for i, pooling in enumerate(("last", "max", "attention"))]
    return root, tokenizer, made


def test_the_ensemble_bundle_is_the_mean_of_its_members_probabilities(members, tmp_path):
    root, tokenizer, made = members
    bundle = export_ensemble([path for path, _ in made], tmp_path / "ens")
    classifier = Classifier.load(bundle)
    assert classifier.metadata["onnx"]["ensemble_members"] == 3
    assert len(classifier.metadata["checkpoint"]["ensemble"]) == 3
    got = classifier.predict_proba(TEXTS)
    with torch.inference_mode():
        expected = []
        for text in TEXTS:
            ids = torch.tensor([tokenizer.encode(text)])
            lengths = torch.tensor([ids.size(1)])
            expected.append(np.mean([torch.softmax(m(ids, lengths), -1)[0].numpy() for _, m in made], axis=0))
    np.testing.assert_allclose(got, np.stack(expected), atol=1e-5)
    # and it is not just one member
    single = torch.softmax(made[0][1](torch.tensor([tokenizer.encode(TEXTS[0])]), torch.tensor([len(tokenizer.encode(TEXTS[0]))])), -1)
    assert not np.allclose(got[0], single.detach().numpy()[0], atol=1e-3)


def test_members_must_share_labels_and_vocabulary(members, tmp_path):
    root, tokenizer, made = members
    other_labels, _ = save_checkpoint(root / "labels.ckpt", tokenizer, ["bad", "good"], seed=5)
    with pytest.raises(UserError, match="labels .* differ from the first member's"):
        export_ensemble([made[0][0], other_labels], tmp_path / "a")
    other_vocab, _ = save_checkpoint(root / "vocab.ckpt", tiny_encoder(max_length=5), ["neg", "pos"], seed=6)
    with pytest.raises(UserError, match="vocabulary or tokenizer differs"):
        export_ensemble([made[0][0], other_vocab], tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_cli_exports_several_checkpoints_as_one_bundle(members, tmp_path):
    _, _, made = members
    result = run_cli(["-m", "bilstm_clf.export", str(made[0][0]), str(made[1][0])], cwd=ROOT)
    assert result.returncode == 2 and result.stderr.strip() == "error: an ensemble of several checkpoints needs --out DIR"
    result = run_cli(["-m", "bilstm_clf.export", str(made[0][0]), str(made[1][0]), "--out", str(tmp_path / "e")], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert Classifier.load(tmp_path / "e").metadata["onnx"]["ensemble_members"] == 2


def test_a_model_with_subwords_and_word_dropout_exports_exactly(tmp_path):
    from bilstm_clf.exporting.bundle_writer import export_bundle
    from tests.export_helpers import CORPUS as texts

    tokenizer = tiny_encoder()
    path, model = save_checkpoint(tmp_path / "sub.ckpt", tokenizer, ["neg", "pos"], seed=3, subword_buckets=50, word_dropout=0.3)
    model.subwords.set_vocabulary(tokenizer.itos())
    with torch.no_grad():
        model.subwords.vectors.weight.mul_(50.0)  # make the n-grams matter to the output
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["state_dict"] = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save(checkpoint, path)
    classifier = Classifier.load(export_bundle(path, tmp_path / "b"))
    with torch.inference_mode():
        for text, got in zip(texts, classifier.predict_proba(texts)):
            ids = torch.tensor([tokenizer.encode(text)])
            expected = torch.softmax(model(ids, torch.tensor([ids.size(1)])), -1)[0].numpy()
            np.testing.assert_allclose(got, expected, atol=1e-5)
