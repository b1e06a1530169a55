"""The prepared-data cache: a second run memory-maps the first run's build, anything that changes
the arrays gives another build, and a half-written or cut build is rebuilt, never used."""

import logging
import os
import threading
import time

import numpy as np
import pytest

from bilstm_clf.common.errors import DataError, UserError
from bilstm_clf.data import cache, prepared, prepared_store
from bilstm_clf.data.datamodule import TextClassificationDataModule
from tests.conftest import write

ROWS = "sentence\tlabel\n" + "".join(f"{w} film number {i}\t{i % 3}\n" for i, w in enumerate(["good", "bad", "fine", "odd"] * 10))


@pytest.fixture
def data(tmp_path):
    write(tmp_path / "data" / "train.tsv", ROWS)
    write(tmp_path / "data" / "test.tsv", "sentence\tlabel\ngood film\t0\nbad film\t1\n")
    return tmp_path / "data"


def module(data, cache_dir, **options):
    dm = TextClassificationDataModule(data_dir=str(data), val_file=None, cache_dir=None if cache_dir is None else str(cache_dir), **options)
    dm.setup("fit")
    return dm


def builds(cache_dir):
    return sorted(p.name for p in cache_dir.iterdir() if p.is_dir())


def same_data(a, b):
    assert a.tokenizer.to_json() == b.tokenizer.to_json() and a.label_names == b.label_names
    for split in a.datasets:
        x, y = a.datasets[split], b.datasets[split]
        assert np.array_equal(x.tokens, y.tokens) and np.array_equal(x.offsets, y.offsets) and np.array_equal(x.labels, y.labels)
    assert np.array_equal(a.token_counts(), b.token_counts())
    assert {k: r.summary() for k, r in a.reports.items()} == {k: r.summary() for k, r in b.reports.items()}


def test_second_setup_maps_the_first_build_without_reading_the_files(data, tmp_path, monkeypatch):
    first = module(data, tmp_path / "cache")
    assert len(builds(tmp_path / "cache")) == 1
    same_data(first, module(data, None))  # in memory, without a cache: the same arrays
    monkeypatch.setattr(prepared, "build", lambda *a, **k: pytest.fail("rebuilt a cached build"))
    second = module(data, tmp_path / "cache")
    assert isinstance(second.datasets["train"].tokens, np.memmap)
    same_data(first, second)
    assert second.split_texts("val", [0]) == first.split_texts("val", [0]) and second.split_texts("test", [1]) == ["bad film"]


@pytest.mark.parametrize("change", ["content", "touch", "option", "carve"])
def test_anything_that_changes_the_arrays_gives_another_build(data, tmp_path, change):
    module(data, tmp_path / "cache")
    options = {}
    if change == "content":  # same size, same modification time: the hashed edges tell
        stat = (data / "train.tsv").stat()
        write(data / "train.tsv", ROWS.replace("good", "nice"))
        os.utime(data / "train.tsv", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    elif change == "touch":
        os.utime(data / "train.tsv", ns=(time.time_ns(), time.time_ns() + 10**9))
    elif change == "option":
        options = {"min_freq": 2}
    else:
        options = {"split_seed": 7}
    dm = module(data, tmp_path / "cache", **options)
    assert len(builds(tmp_path / "cache")) == 2
    if change == "content":
        assert "nice" in dm.tokenizer.itos() and "good" not in dm.tokenizer.itos()


@pytest.mark.parametrize("damage", ["no_manifest", "cut_tokens", "missing_labels", "old_format"])
def test_a_half_written_or_damaged_build_is_rebuilt(data, tmp_path, damage, caplog):
    module(data, tmp_path / "cache")
    first = module(data, None)  # in memory: the damage below must not reach the reference
    (build,) = [tmp_path / "cache" / name for name in builds(tmp_path / "cache")]
    if damage == "no_manifest":
        (build / "manifest.json").unlink()
    elif damage == "cut_tokens":
        path = build / "train.tokens.npy"
        path.write_bytes(path.read_bytes()[:-8])
    elif damage == "missing_labels":
        (build / "val.labels.npy").unlink()
    else:
        manifest = (build / "manifest.json").read_text().replace('"format_version": 1', '"format_version": 0')
        (build / "manifest.json").write_text(manifest)
    with caplog.at_level(logging.WARNING, logger="bilstm_clf.data.cache"):
        again = module(data, tmp_path / "cache")
    assert "incomplete" in caplog.text and "rebuilding" in caplog.text
    same_data(first, again)
    assert (build / "manifest.json").exists()


def test_a_failed_build_leaves_nothing_behind(tmp_path):
    write(tmp_path / "data" / "train.tsv", ROWS + "\tno text\n")
    write(tmp_path / "data" / "test.tsv", "sentence\tlabel\ngood film\t0\n")
    with pytest.raises(DataError, match=r"train\.tsv:42: empty text"):
        module(tmp_path / "data", tmp_path / "cache")
    assert builds(tmp_path / "cache") == []


def test_concurrent_processes_build_once_and_share_it(data, tmp_path, monkeypatch):
    # DDP ranks: whoever takes the lock builds; the other waits and maps the finished build
    calls = []
    real_build = prepared.build

    def slow_build(options, out):
        calls.append(out)
        time.sleep(0.5)
        real_build(options, out)

    monkeypatch.setattr(prepared, "build", slow_build)
    results = []
    workers = [threading.Thread(target=lambda: results.append(module(data, tmp_path / "cache"))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(calls) == 1 and len(results) == 2
    same_data(*results)


def test_cache_key_names_every_option(data):
    base = dict(files={"train": data / "train.tsv", "val": None, "test": None}, read_options={"text_field": "sentence"},
                tokenizer_options={"lowercase": True}, multi_label=False, val_fraction=0.1, split_seed=1)
    key = cache.cache_key(prepared_store.PrepareOptions(**base))
    for name, value in [("read_options", {"text_field": "text"}), ("tokenizer_options", {"lowercase": False}), ("multi_label", True),
                        ("val_fraction", 0.2), ("split_seed", 2)]:
        assert cache.cache_key(prepared_store.PrepareOptions(**{**base, name: value})) != key, name
    with_dev = {**base, "files": {**base["files"], "val": data / "test.tsv"}}
    # with a dev file nothing is carved: the carve options no longer matter
    assert cache.cache_key(prepared_store.PrepareOptions(**with_dev)) == cache.cache_key(prepared_store.PrepareOptions(**{**with_dev, "split_seed": 9}))


def test_an_unwritable_cache_directory_is_one_line_with_the_ways_out(data, tmp_path):
    write(tmp_path / "blocker", "a file where the cache directory would go")
    with pytest.raises(UserError) as info:
        module(data, tmp_path / "blocker" / "cache")
    message = str(info.value)
    assert "\n" not in message and "blocker" in message and "cannot write" in message
    assert "data.cache_dir=null" in message


def test_a_failed_write_while_building_is_one_line_and_leaves_nothing(data, tmp_path, monkeypatch):
    def full_disk(options, out):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prepared, "build", full_disk)
    for cache_dir in (tmp_path / "cache", None):
        with pytest.raises(UserError) as info:
            module(data, cache_dir)
        assert "\n" not in str(info.value) and "No space left on device" in str(info.value) and "data.cache_dir" in str(info.value)
    assert builds(tmp_path / "cache") == []
