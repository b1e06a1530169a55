"""The SLURM launcher config composes, and renders the sbatch script we expect (nothing is submitted)."""

import os

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate

from bilstm_clf.configs import CONFIG_DIR

submitit = pytest.importorskip("submitit", reason="needs the cluster extra (hydra-submitit-launcher)")


def compose_sweep(overrides, sweep_dir):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", f"hydra.sweep.dir={sweep_dir}", "hydra.job.name=train", *overrides],
                      return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def test_slurm_launcher_composes_with_one_task_per_device(tmp_path):
    cfg = compose_sweep(["trainer=ddp", "trainer.devices=4", "hydra.launcher.partition=gpu"], tmp_path)
    launcher = instantiate(cfg.hydra.launcher)
    assert type(launcher).__name__ == "SlurmLauncher"
    params = launcher.params
    assert (params["tasks_per_node"], params["gpus_per_node"], params["nodes"]) == (4, 4, 1)
    assert params["partition"] == "gpu" and params["submitit_folder"] == f"{tmp_path}/.submitit/%j"


def test_slurm_launcher_renders_the_sbatch_script(tmp_path, monkeypatch):
    """Runs the plugin's own launch(): parameter mapping, submitit's validation, the sbatch text.
    Only the submission is replaced; a stand-in `srun` on PATH satisfies submitit's cluster check."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")

    scripts = []

    class DryRunExecutor(submitit.AutoExecutor):
        def map_array(self, fn, *iterables):
            scripts.append(self._executor._make_submission_file_text("python -u -m submitit.core._submit FOLDER", "UID"))
            return []

    monkeypatch.setattr(submitit, "AutoExecutor", DryRunExecutor)
    cfg = compose_sweep(["trainer=ddp", "trainer.devices=2", "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=90"], tmp_path / "sweep")
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    assert launcher.launch([["model.pooling=max"]], initial_job_idx=0) == []

    (script,) = scripts
    for line in ("--ntasks-per-node=2", "--gpus-per-node=2", "--nodes=1", "--partition=gpu", "--time=90", "--cpus-per-task=4", "--mem=32GB"):
        assert f"#SBATCH {line}" in script
    assert "srun" in script
