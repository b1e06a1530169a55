"""Nothing the user had is overwritten or half-written: atomic files, atomic directories, fresh run dirs."""

import threading

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from bilstm_clf.common.atomic import atomic_directory, write_atomic, write_json_atomic
from bilstm_clf.training.checkpoint_io import AtomicCheckpointIO
from bilstm_clf.common.errors import UserError
from bilstm_clf.training.hydra_errors import as_user_error
from bilstm_clf.training.run_dir import MARKER, RESUME_ENV, FreshRunDir, claim_run_dir
from bilstm_clf.configs import CONFIG_DIR


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".tmp", ".old")))


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"acc": 0.9})
    before = target.read_bytes()

    def half_then_crash(tmp):
        tmp.write_text('{"acc": 0.')
        raise KeyboardInterrupt  # interrupted mid-write

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, half_then_crash)
    assert target.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_atomic_directory_publishes_whole_or_nothing(tmp_path):
    final = tmp_path / "bundle"
    with pytest.raises(RuntimeError), atomic_directory(final) as tmp:
        (tmp / "model.safetensors").write_bytes(b"x" * 10)
        raise RuntimeError("export failed")
    assert not final.exists() and list(tmp_path.iterdir()) == []

    with atomic_directory(final) as tmp:
        (tmp / "config.json").write_text("{}")
    assert (final / "config.json").read_text() == "{}"

    with pytest.raises(UserError, match="already exists"), atomic_directory(final):
        pass
    assert (final / "config.json").read_text() == "{}"  # untouched

    with atomic_directory(final, overwrite=True) as tmp:
        (tmp / "config.json").write_text('{"v": 2}')
    assert (final / "config.json").read_text() == '{"v": 2}'
    assert _leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_claim_run_dir_never_shares_a_directory(tmp_path):
    taken = tmp_path / "2024-01-01_12-00-00"
    taken.mkdir()
    (taken / "metrics.json").write_text("{}")
    assert claim_run_dir(taken) == tmp_path / "2024-01-01_12-00-00_1"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert claim_run_dir(empty) == empty and (empty / MARKER).is_file()
    assert claim_run_dir(empty) == tmp_path / "empty_1"  # claimed before anything else was written
    (tmp_path / "a_file").write_text("")
    assert claim_run_dir(tmp_path / "a_file") == tmp_path / "a_file_1"


def test_runs_started_in_the_same_second_get_distinct_directories(tmp_path):
    same_second = tmp_path / "runs" / "2024-01-01_12-00-00"
    claimed, barrier = [], threading.Barrier(8)

    def start_run():
        barrier.wait()
        claimed.append(claim_run_dir(same_second))

    threads = [threading.Thread(target=start_run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(claimed)) == 8


def _compose(run_dir, *overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=[f"hydra.run.dir={run_dir}", *overrides], return_hydra_config=True)


def test_fresh_run_dir_callback_moves_a_run_off_a_finished_one(tmp_path, monkeypatch):
    # set (empty) through monkeypatch, so the path FreshRunDir puts there is removed afterwards and
    # does not leak into later tests' subprocesses
    monkeypatch.setenv(RESUME_ENV, "")
    old = tmp_path / "run"
    (old / "checkpoints").mkdir(parents=True)
    (old / "metrics.json").write_text("{}")
    (old / "checkpoints" / "last.ckpt").write_bytes(b"ckpt")
    cfg = _compose(old, "ckpt_path=last")
    assert "fresh_run_dir" in cfg.hydra.callbacks
    FreshRunDir().on_run_start(config=cfg)
    assert OmegaConf.select(cfg, "hydra.run.dir") == str(tmp_path / "run_1")
    assert cfg.ckpt_path == str((old / "checkpoints" / "last.ckpt").resolve())  # resumes from the old run
    assert sorted(p.name for p in old.iterdir()) == ["checkpoints", "metrics.json"]


def test_ddp_worker_processes_join_rank_zeros_directory(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.log").write_text("rank 0 was here")
    monkeypatch.setenv("LOCAL_RANK", "1")
    cfg = _compose(run)
    FreshRunDir().on_run_start(config=cfg)
    assert OmegaConf.select(cfg, "hydra.run.dir") == str(run)


def test_checkpoints_are_written_then_renamed(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}}, path)
    assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], torch.ones(2))
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        open(f, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(UserError, match=r"last\.ckpt: cannot write: No space left on device$"):  # one line naming the file
        io.save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, path)
    assert path.read_bytes() == before and _leftovers(path.parent) == []


def test_environment_errors_become_one_line_user_errors():
    err = as_user_error(PermissionError(13, "Permission denied", "/logs/runs"))
    assert str(err) == "/logs/runs: Permission denied"
    assert str(as_user_error(OSError(28, "No space left on device"))) == "No space left on device"
    assert as_user_error(ValueError("a bug")) is None  # bugs keep their traceback
