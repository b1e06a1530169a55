"""DDP through the real entry point: two CPU processes (gloo) on a tiny dataset."""

import json

import pytest
import torch

from bilstm_clf.data.batching import EncodedDataset, PadCollate
from bilstm_clf.data.readers import read_examples
from bilstm_clf.data.tokenizer import Tokenizer, load_labels
from bilstm_clf.models import BiLSTMClassifier
from tests.conftest import ROOT, run_cli

TINY = ["model.embedding_dim=16", "model.hidden_size=16", "callbacks.progress_bar.refresh_rate=0"]


def evaluate_whole_split(checkpoint_path, run_dir, split_path):
    """Accuracy and mean cross-entropy of a checkpoint over a whole split, in this one process."""
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    model = BiLSTMClassifier(**checkpoint["hyper_parameters"]["model_config"])
    model.load_state_dict({k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")})
    model.eval()
    encoder = Tokenizer.load(run_dir / "tokenizer.json")
    label_ids = {label: i for i, label in enumerate(load_labels(run_dir / "labels.json"))}
    examples = read_examples(split_path, text_field="sentence", label_field="label")
    dataset = EncodedDataset(encoder.encode_batch([ex.text for ex in examples]), [label_ids[ex.label] for ex in examples])
    batch = PadCollate()([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        logits = model(batch["input_ids"], batch["lengths"])
    accuracy = (logits.argmax(-1) == batch["labels"]).float().mean().item()
    return accuracy, torch.nn.functional.cross_entropy(logits, batch["labels"]).item()


def test_ddp_on_two_cpu_processes_shards_batches_and_reduces_metrics(tiny_dataset, tmp_path):
    run_dir, record = tmp_path / "run", tmp_path / "record"
    result = run_cli(
        ["-m", "bilstm_clf.train", "embeddings=none", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=2",
         "data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv", "data.val_file=dev.tsv",
         "data.test_file=test.tsv", "data.text_field=sentence", "data.batch_size=4", f"hydra.run.dir={run_dir}",
         f"data.cache_dir={tmp_path / 'cache'}",
         # fp32: the metrics are compared with an fp32 pass below (auto is bf16 on CPUs with AVX512-BF16)
         "trainer.precision=32-true",
         "+callbacks.record._target_=tests.helpers.RecordBatches", f"+callbacks.record.directory={record}", *TINY],
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # rank 0 prepared the data once; rank 1 memory-mapped that build and read no text
    output = result.stdout + result.stderr
    assert output.count("prepared data cached in") == 1 and output.count("prepared data from the cache") == 1, output[-3000:]
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 1
    ranks = [json.loads((record / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world_size"]) for r in ranks] == [(0, 2), (1, 2)]

    # 40 training examples in batches of 4: each rank gets 5 batches, together every example once
    for epoch in ("0", "1"):
        first, second = ranks[0]["train"][epoch], ranks[1]["train"][epoch]
        assert len(first) == len(second) == 5
        assert sorted(i for batch in first + second for i in batch) == list(range(40))
    assert ranks[0]["train"]["0"] != ranks[0]["train"]["1"]  # a new order each epoch
    # the 10 test examples are split between the ranks too
    assert ranks[0]["test"] and ranks[1]["test"]
    assert sorted(ranks[0]["test"] + ranks[1]["test"]) == list(range(10))

    # one metrics.json and one summary (rank 0), with metrics over the whole test set, not one shard
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert result.stdout.count("test acc") == 1
    accuracy, loss = evaluate_whole_split(metrics["best_checkpoint"], run_dir, tiny_dataset / "test.tsv")
    assert metrics["test/acc"] == pytest.approx(accuracy, abs=1e-6)
    assert metrics["test/loss"] == pytest.approx(loss, abs=1e-5)
    assert metrics["epochs_trained"] == 2


def test_local_multirun_with_ddp_is_refused_in_one_line(tiny_dataset, tmp_path):
    result = run_cli(
        ["-m", "bilstm_clf.train", "-m", "embeddings=none", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "model.pooling=last,max",
         "data=custom", f"data.data_dir={tiny_dataset}", "data.text_field=sentence", "data.train_file=train.tsv",
         f"hydra.sweep.dir={tmp_path / 'sweep'}", *TINY],
        cwd=ROOT,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: config trainer.devices=2: a local multirun (-m) cannot start DDP processes (each rank would re-run the "
        "whole sweep); train each configuration without -m, or sweep with hydra/launcher=slurm"
    )
    assert not list((tmp_path / "sweep").rglob("metrics.json"))
