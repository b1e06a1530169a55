"""Train, then test the best checkpoint: ``python -m bilstm_clf.train [hydra overrides]``."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from bilstm_clf.common.atomic import write_json_atomic, write_text_atomic
from bilstm_clf.common.config_checks import AUTO_CLASS_WEIGHTS, CLASS_WEIGHT_RULES, check_run_config, finite_numbers, probe_optimizer
from bilstm_clf.common.errors import ConfigError, UserError
from bilstm_clf.configs import CONFIG_DIR
from bilstm_clf.training.hydra_errors import instantiate_checked, let_hydra_raise, one_line_user_errors
from bilstm_clf.training.run_report import errors_into_run_log, print_summary

log = logging.getLogger("bilstm_clf.train")


def class_weights(setting, counts) -> list[float] | None:
    """``null`` (none), ``balanced`` (n / (C · count_c), as scikit-learn), ``sqrt_balanced`` (its
    square root: a rare class gains weight, but a 1% class is not worth 50 of a 50% one), ``auto``
    (the default: ``AUTO_CLASS_WEIGHTS``) or a list."""
    if setting is None:
        return None
    if setting == "auto":
        setting = AUTO_CLASS_WEIGHTS
    if isinstance(setting, str) and setting in CLASS_WEIGHT_RULES:
        total, classes = float(counts.sum()), len(counts)
        power = CLASS_WEIGHT_RULES[setting]
        return [(total / (classes * max(int(c), 1))) ** power for c in counts]
    weights = list(setting)
    if len(weights) != len(counts):
        raise ConfigError("class_weights", weights, f"needs one weight per class ({len(counts)}), {', '.join(CLASS_WEIGHT_RULES)} or null")
    return [float(w) for w in weights]


def pos_weights(setting, counts, rows: int) -> list[float] | None:
    """Multi-label: ``null``, ``balanced`` (negatives / positives per label) or an explicit list."""
    if setting is None:
        return None
    if setting == "balanced":
        return [(rows - int(c)) / max(int(c), 1) for c in counts]
    weights = [float(w) for w in setting]
    if len(weights) != len(counts):
        raise ConfigError("pos_weight", weights, f"needs one weight per label ({len(counts)}), 'balanced' or null")
    return weights


def embedding_source(cfg: DictConfig) -> dict | None:
    """``cfg.embeddings`` with ``auto`` decided, or None for random embeddings."""
    from bilstm_clf.data.embedding_config import resolved_source

    return resolved_source(OmegaConf.to_container(cfg.get("embeddings") or OmegaConf.create({}), resolve=True))


def pretrained_embeddings(source: dict | None, datamodule, seed: int):
    """The [V, d] matrix for the vocabulary from the embedding source and its coverage line, or None."""
    from bilstm_clf.data.embedding_config import vectors_for_vocabulary

    if source is None:
        return None
    found = vectors_for_vocabulary(source, datamodule.tokenizer.itos(), datamodule.token_counts(), seed,
                                   trained_words=datamodule.trained_words)
    if found is not None:
        log.info("%s", found[1])
    return found


def embedding_lr_scale(cfg: DictConfig, pretrained: bool) -> float:
    """``embeddings.lr_scale``: the pretrained table's learning rate as a fraction of the optimizer's.
    Random embeddings (no vectors, or ``auto`` finding none installed) learn at the full rate."""
    scale = (cfg.get("embeddings") or {}).get("lr_scale", 1.0)  # checked by check_run_config
    if not pretrained and scale != 1:
        log.info("embeddings.lr_scale=%s applies to pretrained vectors only: random embeddings learn at the full rate", scale)
        return 1.0
    return float(scale)


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
    keep = {k: resolved[k] for k in ("data", "model", "embeddings", "optimizer", "scheduler", "seed", "label_smoothing", "class_weights",
                                       "calibration", "thresholds", "pos_weight") if k in resolved}
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
    # Lightning 2.x calls a torch pytree API that torch 2.13 deprecates, at fit and at every
    # error after it: noise that would make a one-line error two lines. Per call, since the CLI
    # driver in the tests resets the warning filters around each run.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)
    # Under bf16 (precision=auto on CPUs with AVX512-BF16) Lightning's model summary says it counts
    # the size in 32 bits: a stderr line on every run that is no problem of the user's.
    warnings.filterwarnings("ignore", message=r"Precision bf16-mixed is not supported by the model summary")
    finite_numbers(OmegaConf.to_container(cfg, resolve=False))  # no NaN or infinity anywhere
    check_run_config(cfg)
    # Heavy imports here, so `--help` and config errors answer fast.
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    from bilstm_clf.training.checkpoint_io import AtomicCheckpointIO
    from bilstm_clf.training.class_report import never_predicted
    from bilstm_clf.training.divergence import DivergenceGuard
    from bilstm_clf.training.lit_module import SentenceClassifierModule
    from bilstm_clf.training.multi_label_module import MultiLabelClassifierModule
    from bilstm_clf.training.precision import resolve_precision
    from bilstm_clf.training.resume_checks import check_resume
    from bilstm_clf.training.tb_reports import log_final_hparams

    started = time.perf_counter()
    output_dir = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate_checked(cfg.data, "data", seed=cfg.seed)
    datamodule.prepare_data()
    from bilstm_clf.data.embedding_config import vector_vocabulary

    source = embedding_source(cfg)
    distilling = bool(source and source.get("distill_from"))  # its words are the training words: none to add
    datamodule.add_vector_words([] if distilling else vector_vocabulary(source))
    datamodule.setup("fit")  # the model needs the vocabulary size and class count
    if distilling:  # vectors from the training split as its tokenizer split it, so after setup
        from bilstm_clf.data.distill import distilled_source

        source = distilled_source(source, datamodule, Path(datamodule.cache_dir) if datamodule.cache_dir else output_dir)

    pretrained = pretrained_embeddings(source, datamodule, cfg.seed)
    model_config = OmegaConf.to_container(cfg.model, resolve=True)
    model_config.update(vocab_size=datamodule.vocab_size, num_classes=datamodule.num_classes, padding_idx=datamodule.pad_id,
                        frozen_words=datamodule.vocab_size - datamodule.trained_words)
    if pretrained is not None:
        model_config["embedding_dim"] = int(pretrained[0].shape[1])  # the vectors decide the size
    optimizer = instantiate_checked(cfg.optimizer, "optimizer")
    scheduler = instantiate_checked(cfg.scheduler, "scheduler") if cfg.get("scheduler") else None
    probe_optimizer(optimizer, scheduler)
    multi_label = bool(getattr(datamodule, "multi_label", False))
    task_options: dict[str, Any] = {}
    if multi_label:  # sigmoid + binary cross-entropy, thresholds tuned on dev
        counts = datamodule.class_counts()
        task_options = dict(thresholds=cfg.get("thresholds", "per_label"),
                            pos_weight=pos_weights(cfg.get("pos_weight"), counts, len(datamodule.datasets["train"])))
    module = (MultiLabelClassifierModule if multi_label else SentenceClassifierModule)(
        **task_options,
        model_config=model_config,
        label_names=datamodule.label_names,
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval=cfg.get("scheduler_interval", "epoch"),
        monitor=cfg.monitor,
        class_weights=None if multi_label else class_weights(cfg.get("class_weights"), datamodule.class_counts()),
        label_smoothing=cfg.label_smoothing,
        tokenizer_json=datamodule.tokenizer.to_json(),
        ema_decay=cfg.get("ema_decay"),
        adversarial_eps=cfg.get("adversarial_eps", 0.0),
        embedding_lr_scale=embedding_lr_scale(cfg, pretrained is not None),
    )

    if module.model.subwords is not None:
        module.model.subwords.set_vocabulary(datamodule.tokenizer.itos())
    callbacks = [instantiate_checked(c, f"callbacks.{k}") for k, c in (cfg.get("callbacks") or {}).items() if c]
    callbacks.append(DivergenceGuard())  # not a choice: a NaN run must never look finished
    if pretrained is not None:
        import torch

        from bilstm_clf.training.callbacks import UnfreezeEmbeddings

        with torch.no_grad():
            vectors, trained = torch.from_numpy(pretrained[0]), module.model.trained_words
            module.model.embedding.weight.copy_(vectors[:trained])
            if module.model.frozen_vectors is not None:
                module.model.frozen_vectors.copy_(vectors[trained:])
        if cfg.embeddings.get("freeze"):
            module.model.embedding.weight.requires_grad_(False)
            if cfg.embeddings.get("unfreeze_at_epoch") is not None:
                callbacks.append(UnfreezeEmbeddings(int(cfg.embeddings.unfreeze_at_epoch)))
    loggers = [instantiate_checked(c, f"logger.{k}") for k, c in (cfg.get("logger") or {}).items() if c]
    if not loggers:  # logger=none: callbacks that only write to a logger would refuse to start
        from pytorch_lightning.callbacks import LearningRateMonitor

        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer_cfg = OmegaConf.merge(cfg.trainer, {"precision": resolve_precision(cfg.trainer.get("precision"), cfg.trainer.get("accelerator"))})
    trainer: pl.Trainer = instantiate_checked(
        trainer_cfg, "trainer", callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    _refuse_local_ddp_sweep(trainer)
    if trainer.is_global_zero:  # DDP runs this function once per rank
        write_text_atomic(output_dir / "tokenizer.json", datamodule.tokenizer.to_json())
        write_json_atomic(output_dir / "labels.json", list(datamodule.label_names))

    if cfg.get("ckpt_path"):  # one line naming the file, not Lightning's traceback mid-fit
        check_resume(cfg.ckpt_path, module)
    # weights_only=True: tensors and plain containers only, never arbitrary pickles
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)

    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    best_path = checkpoint.best_model_path if checkpoint is not None else ""
    best_score = checkpoint.best_model_score if checkpoint is not None else None
    # checkpoint averaging (final_weights); multi-label keeps the best: its thresholds fit its weights
    final_weights = "best" if multi_label or checkpoint is None else cfg.get("final_weights", "average")
    averaged_from: list[str] = []
    if final_weights != "best":
        from bilstm_clf.training.callbacks import LastCheckpoint
        from bilstm_clf.training.checkpoint_average import final_checkpoint

        last = next((c.path for c in callbacks if isinstance(c, LastCheckpoint)), None)
        if trainer.is_global_zero:
            best_path, averaged_from = final_checkpoint(final_weights, best_path, list(checkpoint.best_k_models), last,
                                                        Path(checkpoint.dirpath or output_dir))
        best_path, averaged_from = trainer.strategy.broadcast((best_path, averaged_from))  # DDP: every rank tests rank 0's file
    # val metrics of the weights that are tested, for the hparams table; loggers off, so the val
    # curves get no extra point
    attached, trainer.loggers = trainer.loggers, []
    results = trainer.validate(module, datamodule=datamodule, ckpt_path=best_path or None, verbose=False, weights_only=True)
    trainer.loggers = attached
    val_metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
    per_class = {"val": module.class_reports.get("val", {})}
    test_metrics: dict[str, float] = {}
    if cfg.get("test", True) and datamodule.files["test"]:
        results = trainer.test(module, datamodule=datamodule, ckpt_path=best_path or None, verbose=False, weights_only=True)
        test_metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
        per_class["test"] = module.class_reports.get("test", {})

    calibrated = {}
    if trainer.is_global_zero:  # temperature scaling (single-label): fitted on dev, stored in the best checkpoint
        from pytorch_lightning.loggers import TensorBoardLogger

        from bilstm_clf.training.calibrate_run import calibrate

        writer = next((lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        calibrated = calibrate(cfg.get("calibration", "temperature"), module, datamodule, best_path, output_dir, writer, trainer.global_step)
        best_path = calibrated.pop("best_checkpoint", best_path)  # a resumed run's best may be a calibrated copy
    scores = ("acc", "f1_macro", "loss", "f1_micro", "subset_acc", "hamming_loss")
    metrics = {
        **{f"val/{k}": val_metrics[f"val/{k}"] for k in scores if f"val/{k}" in val_metrics},
        **{f"test/{k}": test_metrics[f"test/{k}"] for k in scores if f"test/{k}" in test_metrics},
        **calibrated,
        "task": "multi_label" if multi_label else "single_label",
        f"best/{cfg.monitor}": float(best_score) if best_score is not None else None,
        "best_checkpoint": best_path,
        "final_weights": final_weights,
        "averaged_from": averaged_from,
        "epochs_trained": trainer.current_epoch,
        "tensorboard_log_dir": next((lg.log_dir for lg in trainer.loggers if hasattr(lg, "log_dir")), None),
        "run_dir": str(output_dir),
        "dataset": cfg.data.name,
        "train_seconds": round(time.perf_counter() - started, 1),
        "skipped_rows": datamodule.skipped_rows(),
        "per_class": per_class,
        "never_predicted_on_dev": never_predicted(per_class["val"]),
    }
    if pretrained is not None:
        metrics["embedding_coverage"] = str(pretrained[1])
    if trainer.is_global_zero:
        from bilstm_clf.exporting.bundle_writer import export_after_training

        metrics.update(export_after_training(cfg, best_path, module, metrics))
        write_json_atomic(output_dir / "metrics.json", metrics)
        final = {f"hp/{k}": v for k, v in metrics.items() if isinstance(v, float) and ("/" in k)}
        for lg in trainer.loggers:
            log_final_hparams(lg, _flat_hparams(cfg), final)
            lg.finalize("success")
        no_test = "test=false" if not cfg.get("test", True) else "data.test_file is null"
        print_summary(metrics, cfg.monitor, datamodule.data_report(), log_root=cfg.paths.log_dir, no_test=no_test)
        if metrics.get("bundle_error"):  # the run is complete, but not what export.enabled asked for
            raise UserError(f"bundle export failed: {metrics['bundle_error']} (the run and its checkpoints are complete; "
                            f"retry with python -m bilstm_clf.export {output_dir})")
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    with one_line_user_errors(), errors_into_run_log():
        metrics = train(cfg)
    # Returned for Hydra sweepers (Optuna) to optimise: the dev score of the weights that were
    # tested and exported (with final_weights=average, the mean's, not the best epoch's).
    return metrics.get(cfg.monitor, metrics.get(f"best/{cfg.monitor}"))


def main() -> float | None:
    """Console entry point: every user error, config composition included, is one line and exit 2."""
    let_hydra_raise()
    with one_line_user_errors():
        return hydra_main()


if __name__ == "__main__":
    main()
