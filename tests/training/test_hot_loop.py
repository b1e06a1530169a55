"""The training hot loop is GPU-ready: no host syncs per step, lengths stay on the host, pinned batches.

There is no GPU here, so the probe looks for what *would* stall a GPU: reading a tensor's value on
the host (.item(), bool(t), .tolist(), .cpu(), .numpy()), ops whose output size depends on the data
(nonzero, unique, masked_select), and blocking cross-device copies (.to(device) without
non_blocking=True).
"""

from __future__ import annotations

import functools
import os
import traceback
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

import bilstm_clf
from bilstm_clf.data.datamodule import TextClassificationDataModule
from bilstm_clf.training.divergence import DivergenceGuard
from bilstm_clf.training.lit_module import SentenceClassifierModule
from bilstm_clf.models import BiLSTMClassifier

aten = torch.ops.aten
PACKAGE_DIR = os.path.dirname(os.path.abspath(bilstm_clf.__file__))
HOST_READS = {"item", "tolist", "numpy", "cpu", "__bool__", "__int__", "__float__", "__index__"}
DATA_DEPENDENT_OPS = {
    aten._local_scalar_dense.default,
    aten.nonzero.default,
    aten.masked_select.default,
    aten._unique2.default,
    aten.unique_dim.default,
    aten.unique_consecutive.default,
    aten.is_nonzero.default,
}


# torch code that keeps state on the host on purpose: an optimizer's step count lives on the CPU
# (its .item() is no device sync); clip_grad_norm_ moves the scale to the grads' own device.
TRUSTED = (f"torch{os.sep}optim{os.sep}", f"torch{os.sep}nn{os.sep}utils{os.sep}clip_grad.py")

# indexing with a boolean mask finds the True positions on the host (a nonzero inside the op)
MASK_INDEXING_OPS = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default, aten._index_put_impl_.default}


def _has_bool_index(args) -> bool:
    indices = args[1] if len(args) > 1 and isinstance(args[1], (list, tuple)) else ()
    return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices)


def _caller() -> traceback.FrameSummary | None:
    """The innermost frame outside torch that led to the probed call; None if trusted torch code
    (TRUSTED) is on the way."""
    stack = traceback.extract_stack()
    entry = next(i for i, f in enumerate(stack) if f.filename == __file__ and f.name in ("__torch_function__", "__torch_dispatch__"))
    frames = stack[:entry]
    if any(marker in f.filename for f in frames for marker in TRUSTED):
        return None
    outside_torch = [f for f in frames if f"{os.sep}torch{os.sep}" not in f.filename]
    return outside_torch[-1] if outside_torch else None


def _ours(frame: traceback.FrameSummary) -> bool:
    return os.path.abspath(frame.filename).startswith(PACKAGE_DIR + os.sep)


class _FunctionProbe(TorchFunctionMode):
    def __init__(self, found: list[str]):
        super().__init__()
        self.found = found

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        blocking_copy = name in ("to", "cuda", "copy_") and not kwargs.get("non_blocking", False)
        to_device = "device" in kwargs or any(isinstance(a, (str, torch.device)) for a in args[1:])
        if name in HOST_READS or (blocking_copy and to_device):
            caller = _caller()
            # .to(device) in our code moves data between host and device; elsewhere (Lightning
            # keeping its logged values beside the loss) it is a same-device no-op on a GPU too.
            if caller is not None and (name in HOST_READS or _ours(caller)):
                what = f"Tensor.{name}" if name in HOST_READS else f"blocking Tensor.{name}(device)"
                self.found.append(f"{what} at {caller.filename}:{caller.lineno}")
        return func(*args, **kwargs)


class _DispatchProbe(TorchDispatchMode):
    def __init__(self, found: list[str]):
        super().__init__()
        self.found = found

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in DATA_DEPENDENT_OPS or (func in MASK_INDEXING_OPS and _has_bool_index(args)):
            caller = _caller()
            if caller is not None:
                self.found.append(f"{func} at {caller.filename}:{caller.lineno}")
        return func(*args, **(kwargs or {}))


class HostSyncProbe:
    """Context manager collecting would-be host syncs in ``found``."""

    def __init__(self):
        self.found: list[str] = []
        self._modes = [_FunctionProbe(self.found), _DispatchProbe(self.found)]

    def __enter__(self):
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc):
        for mode in reversed(self._modes):
            mode.__exit__(*exc)


@pytest.mark.parametrize(
    "snippet",
    [lambda x: x.sum().item(), lambda x: bool(x[0] > 0), lambda x: x.tolist(), lambda x: x.nonzero(),
     lambda x: x.unique(), lambda x: x[x > 1]],
)
def test_probe_catches_host_syncs(snippet):
    x = torch.tensor([1.0, 2.0])
    with HostSyncProbe() as probe:
        snippet(x)
    assert probe.found


def test_probe_catches_blocking_copies_in_our_code_only():
    x = torch.tensor([1.0, 2.0])
    in_our_package = os.path.join(PACKAGE_DIR, "models", "not_a_real_file.py")
    blocking = compile("x.to(torch.device('cpu'))", in_our_package, "exec")
    asynchronous = compile("x.to(torch.device('cpu'), non_blocking=True)", in_our_package, "exec")
    with HostSyncProbe() as probe:
        exec(blocking, {"x": x, "torch": torch})
    assert len(probe.found) == 1 and "blocking Tensor.to(device)" in probe.found[0]
    with HostSyncProbe() as probe:
        exec(asynchronous, {"x": x, "torch": torch})
        x.to(torch.device("cpu"))  # outside our package: a same-device move, as Lightning's
    assert probe.found == []


def test_probe_lets_async_work_pass():
    x = torch.tensor([1.0, 2.0])
    with HostSyncProbe() as probe:
        x.to("cpu", non_blocking=True)
        (x * 2).sum().sqrt()
        x.to(torch.float16)
    assert probe.found == []


def _batch(lengths: list[int], vocab: int = 30):
    torch.manual_seed(0)
    lengths_t = torch.tensor(lengths)
    ids = torch.randint(2, vocab, (len(lengths), max(lengths)))
    ids[torch.arange(max(lengths))[None, :] >= lengths_t[:, None]] = 0
    return ids, lengths_t, torch.randint(0, 3, (len(lengths),))


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_default_model_training_step_has_no_host_syncs(pooling, num_layers):
    model = BiLSTMClassifier(30, 3, embedding_dim=8, hidden_size=6, num_layers=num_layers, pooling=pooling).train()
    assert type(model.encoder).__name__ == "PaddedLSTMEncoder"  # the default
    optimizer = torch.optim.Adam(model.parameters())
    ids, lengths, labels = _batch([5, 3, 1, 4])
    with HostSyncProbe() as probe:
        loss = torch.nn.functional.cross_entropy(model(ids, lengths), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    assert probe.found == []


class _ProbeSteps(pl.Callback):
    """Probes whole steps from batch 1 to the last batch: batch transfer, training_step with its
    logging and metrics, backward, gradient clipping, optimizer step, Lightning's per-step work."""

    def __init__(self, last_batch: int):
        self.probe = HostSyncProbe()
        self.last_batch = last_batch
        self.steps = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        assert batch["lengths"].device.type == "cpu"  # lengths stay on the host
        if batch_idx == 1:
            self.probe.__enter__()
        elif batch_idx == self.last_batch:
            self.probe.__exit__(None, None, None)
        elif batch_idx > 1:
            self.steps += 1


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])  # bf16-mixed: what trainer=gpu runs
def test_lightning_training_steps_have_no_host_syncs(tiny_dataset, precision):
    datamodule = TextClassificationDataModule(data_dir=str(tiny_dataset), batch_size=4, seed=0)
    datamodule.setup("fit")
    module = SentenceClassifierModule(
        model_config=dict(vocab_size=datamodule.vocab_size, num_classes=datamodule.num_classes, embedding_dim=8, hidden_size=6),
        label_names=datamodule.label_names,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3, fused=True),  # as configs/optimizer/adam.yaml
    )
    callback = _ProbeSteps(last_batch=6)
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=1, limit_train_batches=7, limit_val_batches=0, num_sanity_val_steps=0,
        gradient_clip_val=5.0, precision=precision, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[callback, DivergenceGuard()], log_every_n_steps=50,  # train.py always adds the guard
    )
    before = [p.detach().clone() for p in module.parameters()]
    trainer.fit(module, datamodule=datamodule)
    assert callback.steps == 4
    assert callback.probe.found == []
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))  # it trained


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_gradients_are_clipped_before_a_fused_optimizer_step(tiny_dataset, precision):
    """Lightning refuses fused optimizers with mixed precision plus clipping (for fp16's loss
    scale); bf16-mixed, what trainer=gpu runs, has no loss scale, and the module clips itself."""
    datamodule = TextClassificationDataModule(data_dir=str(tiny_dataset), batch_size=4, seed=0)
    datamodule.setup("fit")
    module = SentenceClassifierModule(
        model_config=dict(vocab_size=datamodule.vocab_size, num_classes=datamodule.num_classes, embedding_dim=8, hidden_size=6),
        label_names=datamodule.label_names,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3, fused=True),
    )
    norms: list[float] = []
    clip_as_configured = module.configure_gradient_clipping

    def clip_and_measure(*args, **kwargs):  # Lightning calls this between backward and the step
        clip_as_configured(*args, **kwargs)
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    module.configure_gradient_clipping = clip_and_measure
    clip = 1e-3
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=1, limit_train_batches=3, limit_val_batches=0, num_sanity_val_steps=0,
        gradient_clip_val=clip, precision=precision, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(module, datamodule=datamodule)
    assert len(norms) == 3
    assert all(0 < n <= clip * 1.001 for n in norms), norms


def _trainer_on(device: str) -> SimpleNamespace:
    """What the datamodule's loaders read from a trainer (one process, first epoch)."""
    progress = SimpleNamespace(current=SimpleNamespace(processed=0))
    fit_loop = SimpleNamespace(epoch_progress=progress, epoch_loop=SimpleNamespace(batch_progress=progress))
    return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)), world_size=1, global_rank=0, fit_loop=fit_loop)


def test_batches_are_pinned_only_when_training_on_cuda(tiny_dataset):
    datamodule = TextClassificationDataModule(data_dir=str(tiny_dataset), batch_size=4)
    datamodule.setup("fit")
    assert datamodule.train_dataloader().pin_memory is False  # no trainer yet
    datamodule.trainer = _trainer_on("cpu")
    assert datamodule.train_dataloader().pin_memory is False
    datamodule.trainer = _trainer_on("cuda")  # the loaders are only built, not iterated: no GPU needed
    assert datamodule.train_dataloader().pin_memory is True
    assert datamodule.val_dataloader().pin_memory is True
