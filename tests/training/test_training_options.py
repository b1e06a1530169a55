"""EMA weights, adversarial training and per-class reports in the LightningModule."""

import functools

import pytest
import torch

from bilstm_clf.exporting.checkpoints import model_weights
from bilstm_clf.training.lit_module import SentenceClassifierModule

CONFIG = {"vocab_size": 20, "num_classes": 3, "embedding_dim": 6, "hidden_size": 5, "embedding_dropout": 0.0, "output_dropout": 0.0}


def batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 20, (4, 7), generator=generator)
    lengths = torch.tensor([7, 5, 3, 1])
    ids[torch.arange(7)[None, :] >= lengths[:, None]] = 0
    return {"input_ids": ids, "lengths": lengths, "labels": torch.tensor([0, 1, 2, 1])}


def test_ema_weights_follow_the_trained_ones_and_are_what_is_evaluated():
    torch.manual_seed(0)
    module = SentenceClassifierModule(CONFIG, ["a", "b", "c"], ema_decay=0.5)
    assert module.eval_model is module.model  # nothing averaged yet: the sanity check uses the model
    assert not any(p.requires_grad for p in module.ema.parameters())
    optimizer = torch.optim.SGD(module.model.parameters(), lr=0.5)
    snapshots = []
    for step in range(3):
        optimizer.zero_grad()
        loss = module.criterion(module.model(batch(step)["input_ids"], batch(step)["lengths"]), batch(step)["labels"])
        loss.backward()
        optimizer.step()
        module.on_train_batch_end(None, None, step)
        snapshots.append(module.model.head.weight.detach().clone())
    # EMA with decay 0.5: copy at the first update, then 0.5 * old + 0.5 * new
    expected = snapshots[0]
    for weight in snapshots[1:]:
        expected = 0.5 * expected + 0.5 * weight
    assert module.eval_model is module.ema.module
    torch.testing.assert_close(module.eval_model.head.weight, expected)
    b = batch()
    torch.testing.assert_close(module(b["input_ids"], b["lengths"]), module.ema.module(b["input_ids"], b["lengths"]))
    # the exported weights are the EMA's
    exported = model_weights(module.state_dict())
    torch.testing.assert_close(exported["head.weight"], expected)


def test_without_ema_the_exported_weights_are_the_trained_ones():
    module = SentenceClassifierModule(CONFIG, ["a", "b", "c"])
    assert module.ema is None and module.eval_model is module.model
    torch.testing.assert_close(model_weights(module.state_dict())["head.weight"], module.model.head.weight)


@pytest.mark.parametrize("frozen", [False, True])
def test_adversarial_training_adds_the_loss_under_the_worst_small_perturbation(frozen):
    torch.manual_seed(0)
    plain = SentenceClassifierModule(CONFIG, ["a", "b", "c"])
    adversarial = SentenceClassifierModule(CONFIG, ["a", "b", "c"], adversarial_eps=1.0)
    adversarial.model.load_state_dict(plain.model.state_dict())
    for module in (plain, adversarial):
        module.model.embedding.weight.requires_grad_(not frozen)
        module.log = lambda *args, **kwargs: None  # no trainer attached
    b = batch()
    clean = plain.training_step(b, 0)
    total = adversarial.training_step(b, 0)
    # total = clean + adversarial loss, and the perturbation raises the loss
    assert total.item() > 2 * clean.item()
    total.backward()
    assert adversarial.model.head.weight.grad is not None


def test_config_refuses_bad_ema_and_adversarial_values():
    from omegaconf import OmegaConf

    from bilstm_clf.common.config_checks import check_run_config
    from bilstm_clf.common.errors import ConfigError

    base = {"seed": 1, "monitor": "val/f1_macro"}
    for key, value, message in (("ema_decay", 1.5, "must be a number in (0, 1) or null"), ("adversarial_eps", -1, "must be a finite number >= 0")):
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            check_run_config(OmegaConf.create({**base, key: value}))


def test_ema_with_subwords_copies_the_ngram_table():
    torch.manual_seed(0)
    module = SentenceClassifierModule({**CONFIG, "subword_buckets": 31}, ["a", "b", "c"], ema_decay=0.9)
    module.model.subwords.set_vocabulary(["<pad>", "<unk>"] + [f"word{i}" for i in range(18)])
    module.log = lambda *args, **kwargs: None
    module.training_step(batch(), 0).backward()
    module.on_train_batch_end(None, None, 0)
    assert torch.equal(module.eval_model.subwords.ngrams, module.model.subwords.ngrams) and module.model.subwords.ngrams.any()
    b = batch()
    torch.testing.assert_close(module(b["input_ids"], b["lengths"]), module.model.eval()(b["input_ids"], b["lengths"]))


def one_step(module):
    module.log = lambda *args, **kwargs: None  # no trainer attached
    optimizer = module.make_optimizer()
    module.training_step(batch(), 0).backward()
    optimizer.step()
    return optimizer


@pytest.mark.parametrize("factory", [functools.partial(torch.optim.Adam, lr=0.01), functools.partial(torch.optim.SGD, lr=0.5, momentum=0.9)])
def test_embedding_lr_scale_moves_the_table_at_that_fraction_and_nothing_else(factory):
    torch.manual_seed(0)
    full = SentenceClassifierModule(CONFIG, ["a", "b", "c"], optimizer=factory)
    slow = SentenceClassifierModule(CONFIG, ["a", "b", "c"], optimizer=factory, embedding_lr_scale=0.25)
    slow.model.load_state_dict(full.model.state_dict())
    start = {k: v.detach().clone() for k, v in full.model.state_dict().items()}
    one_step(full)
    optimizer = one_step(slow)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([factory.keywords["lr"], 0.25 * factory.keywords["lr"]])
    assert [g["name"] for g in optimizer.param_groups] == ["model", "embeddings"]  # TensorBoard's curve names
    moved = full.model.embedding.weight - start["embedding.weight"]
    assert moved.abs().max() > 0
    # Adam's first step and SGD's are linear in the rate: a quarter of the full step, row for row
    torch.testing.assert_close(slow.model.embedding.weight - start["embedding.weight"], 0.25 * moved)
    for name, weight in full.model.state_dict().items():
        if name != "embedding.weight":
            torch.testing.assert_close(slow.model.state_dict()[name], weight, msg=name)


def test_a_plateau_keeps_the_ratio_and_resume_needs_the_same_groups(tmp_path):
    from bilstm_clf.common.errors import DataError
    from bilstm_clf.training.resume_checks import _check_optimizer

    factory = functools.partial(torch.optim.Adam, lr=0.01)
    slow = SentenceClassifierModule(CONFIG, ["a", "b", "c"], optimizer=factory, embedding_lr_scale=0.3)
    optimizer = slow.make_optimizer()
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=0)
    for score in (0.5, 0.4):
        scheduler.step(score)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.005, 0.0015])
    state = one_step(slow).state_dict()
    _check_optimizer(tmp_path / "run.ckpt", [state], slow)  # the run's own groups: accepted
    full = SentenceClassifierModule(CONFIG, ["a", "b", "c"], optimizer=factory)
    with pytest.raises(DataError, match=r"2 parameter group\(s\) and this run's 1: embeddings.lr_scale differs"):
        _check_optimizer(tmp_path / "run.ckpt", [state], full)


def test_embedding_lr_scale_applies_to_pretrained_vectors_only_and_is_checked():
    from omegaconf import OmegaConf

    from bilstm_clf.common.config_checks import check_run_config
    from bilstm_clf.common.errors import ConfigError
    from bilstm_clf.train import embedding_lr_scale

    cfg = OmegaConf.create({"seed": 1, "monitor": "val/f1_macro", "embeddings": {"lr_scale": 0.3}})
    check_run_config(cfg)
    assert embedding_lr_scale(cfg, pretrained=True) == 0.3
    assert embedding_lr_scale(cfg, pretrained=False) == 1.0  # random rows learn at the full rate
    assert embedding_lr_scale(OmegaConf.create({"embeddings": {}}), pretrained=True) == 1.0
    for bad in (0, 1.5, -0.1, True, "slow"):
        cfg.embeddings.lr_scale = bad
        with pytest.raises(ConfigError, match=r"embeddings\.lr_scale"):
            check_run_config(cfg)


def test_vocab_from_vectors_is_checked():
    from omegaconf import OmegaConf

    from bilstm_clf.common.config_checks import check_run_config
    from bilstm_clf.common.errors import ConfigError

    cfg = OmegaConf.create({"seed": 1, "monitor": "val/f1_macro", "embeddings": {"vocab_from_vectors": 50000}})
    check_run_config(cfg)
    for bad in (-1, 2.5, True, "all"):
        cfg.embeddings.vocab_from_vectors = bad
        with pytest.raises(ConfigError, match=r"embeddings\.vocab_from_vectors"):
            check_run_config(cfg)


def test_resume_names_vocab_from_vectors_when_only_one_side_has_the_vectors_words(tmp_path):
    from bilstm_clf.common.errors import DataError
    from bilstm_clf.training.resume_checks import _check_weights

    before = SentenceClassifierModule(CONFIG, ["a", "b", "c"])
    now = SentenceClassifierModule({**CONFIG, "frozen_words": 3}, ["a", "b", "c"])
    with pytest.raises(DataError, match=r"lacks model\.frozen_vectors: embeddings\.vocab_from_vectors differs .* embeddings\.vocab_from_vectors=0\)"):
        _check_weights(tmp_path / "old.ckpt", before.state_dict(), now.state_dict())
