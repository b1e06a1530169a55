"""Train, then test the best checkpoint: ``python -m bilstm_clf.train [hydra overrides]``."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from bilstm_clf.errors import ConfigError, UserError

log = logging.getLogger("bilstm_clf.train")

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write then rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def class_weights(setting, counts) -> list[float] | None:
    """``null`` (none), ``balanced`` (n / (C · count_c), as scikit-learn) or an explicit list."""
    if setting is None:
        return None
    if setting == "balanced":
        total, classes = float(counts.sum()), len(counts)
        return [total / (classes * max(int(c), 1)) for c in counts]
    weights = list(setting)
    if len(weights) != len(counts):
        raise ConfigError("class_weights", weights, f"needs one weight per class ({len(counts)}), 'balanced' or null")
    return [float(w) for w in weights]


def resolve_ckpt_path(setting: str | None, output_dir: Path) -> str | None:
    """``ckpt_path``: null (fresh start), ``last`` (this run directory's checkpoints/last.ckpt) or a path."""
    if setting is None or str(setting) == "":
        return None
    path = output_dir / "checkpoints" / "last.ckpt" if setting == "last" else Path(setting)
    if not path.is_file():
        hint = "; to continue an earlier run, also pass hydra.run.dir=<that run's directory>" if setting == "last" else ""
        raise ConfigError("ckpt_path", setting, f"no checkpoint file at {path}{hint}")
    return str(path)


def _refuse_local_ddp_sweep(trainer) -> None:
    """Lightning starts DDP ranks by re-running this command line, which under -m re-runs the sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    environment = getattr(trainer.strategy, "cluster_environment", None)
    if (
        HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
        and trainer.world_size > 1
        and environment is not None
        and not environment.creates_processes_externally
    ):
        raise ConfigError(
            "trainer.devices", trainer.world_size,
            "a local multirun (-m) cannot start DDP processes (each rank would re-run the whole sweep); "
            "train each configuration without -m, or sweep with hydra/launcher=slurm",
        )


def _flat_hparams(cfg: DictConfig) -> dict[str, Any]:
    """Config values worth comparing runs on, flattened for TensorBoard's hparams table."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    keep = {k: resolved[k] for k in ("data", "model", "optimizer", "scheduler", "seed", "label_smoothing", "class_weights") if k in resolved}
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if not str(key).startswith("_"):
                    walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            flat[prefix] = node if isinstance(node, (int, float, str, bool)) else str(node)

    walk("", keep)
    flat["trainer.max_epochs"] = cfg.trainer.get("max_epochs")
    return flat


def train(cfg: DictConfig) -> dict[str, Any]:
    # Heavy imports here, so `--help` and config errors answer fast.
    import pytorch_lightning as pl
    from hydra.utils import instantiate
    from pytorch_lightning.callbacks import ModelCheckpoint

    from bilstm_clf.data.tokenizer import save_labels
    from bilstm_clf.lit_module import SentenceClassifierModule

    started = time.perf_counter()
    output_dir = Path(cfg.paths.output_dir)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir)
    pl.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data, seed=cfg.seed)
    datamodule.prepare_data()
    datamodule.setup("fit")  # the model needs the vocabulary size and class count

    model_config = OmegaConf.to_container(cfg.model, resolve=True)
    model_config.update(vocab_size=datamodule.vocab_size, num_classes=datamodule.num_classes, padding_idx=datamodule.pad_id)
    module = SentenceClassifierModule(
        model_config=model_config,
        label_names=datamodule.label_names,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        scheduler_interval=cfg.get("scheduler_interval", "epoch"),
        monitor=cfg.monitor,
        class_weights=class_weights(cfg.get("class_weights"), datamodule.class_counts()),
        label_smoothing=cfg.label_smoothing,
        tokenizer_json=datamodule.encoder.to_json(),
    )

    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    _refuse_local_ddp_sweep(trainer)
    if trainer.is_global_zero:  # DDP runs this function once per rank
        datamodule.encoder.save(output_dir / "tokenizer.json")
        save_labels(datamodule.label_names, output_dir / "labels.json")

    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)

    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    best_path = checkpoint.best_model_path if checkpoint is not None else ""
    best_score = checkpoint.best_model_score if checkpoint is not None else None
    test_metrics: dict[str, float] = {}
    if cfg.get("test", True) and datamodule.files["test"]:
        results = trainer.test(module, datamodule=datamodule, ckpt_path=best_path or None, verbose=False)
        test_metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}

    metrics = {
        **{k: test_metrics[k] for k in ("test/acc", "test/f1_macro", "test/loss") if k in test_metrics},
        f"best/{cfg.monitor}": float(best_score) if best_score is not None else None,
        "best_checkpoint": best_path,
        "epochs_trained": trainer.current_epoch,
        "tensorboard_log_dir": next((lg.log_dir for lg in trainer.loggers if hasattr(lg, "log_dir")), None),
        "run_dir": str(output_dir),
        "dataset": cfg.data.name,
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    if trainer.is_global_zero:
        write_json_atomic(output_dir / "metrics.json", metrics)
        final = {f"hp/{k}": v for k, v in metrics.items() if isinstance(v, float) and ("/" in k)}
        for lg in trainer.loggers:
            lg.log_hyperparams(_flat_hparams(cfg), metrics=final)
            lg.finalize("success")
        _print_summary(metrics, cfg.monitor)
    return metrics


def _print_summary(metrics: dict[str, Any], monitor: str) -> None:
    def pct(key: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None else f"{100 * value:.2f}%"

    print(
        f"\n{metrics['dataset']}: test acc {pct('test/acc')}, test macro-F1 {pct('test/f1_macro')}, "
        f"best {monitor} {pct(f'best/{monitor}')} ({metrics['epochs_trained']} epochs, {metrics['train_seconds']} s)\n"
        f"  run dir:     {metrics['run_dir']}\n"
        f"  checkpoint:  {metrics['best_checkpoint']}\n"
        f"  tensorboard: tensorboard --logdir {Path(metrics['run_dir']).parents[2] if len(Path(metrics['run_dir']).parents) > 2 else 'logs'}",
        flush=True,
    )


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = train(cfg)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    # Returned for Hydra sweepers (Optuna) to optimise.
    return metrics.get(f"best/{cfg.monitor}")


if __name__ == "__main__":
    main()
