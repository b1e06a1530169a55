import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from bilstm_clf.data.batching import BucketBatchSampler, EncodedDataset, PadCollate

lengths_st = st.lists(st.integers(1, 60), min_size=0, max_size=400)


@given(lengths=lengths_st, batch_size=st.integers(1, 40), pool=st.integers(1, 8), epoch=st.integers(0, 5), shuffle=st.booleans())
def test_every_example_exactly_once_per_epoch(lengths, batch_size, pool, epoch, shuffle):
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, pool_batches=pool, seed=3)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert len(batches) == len(sampler)
    assert all(1 <= len(b) <= batch_size for b in batches)


@given(lengths=lengths_st, batch_size=st.integers(1, 40), pool=st.integers(1, 8))
def test_drop_last_only_drops_partial_batches(lengths, batch_size, pool):
    sampler = BucketBatchSampler(lengths, batch_size, pool_batches=pool, drop_last=True)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert all(len(b) == batch_size for b in batches)
    assert len({i for b in batches for i in b}) == sum(len(b) for b in batches)


def test_batches_are_length_homogeneous_and_shuffled_per_epoch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=6400)
    sampler = BucketBatchSampler(lengths, 64, pool_batches=50, seed=1)
    spread = np.mean([np.ptp(lengths[b]) for b in sampler])
    random_spread = np.mean([np.ptp(lengths[b]) for b in np.array_split(rng.permutation(6400), 100)])
    assert spread < random_spread / 5
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first  # same seed and epoch, same order


def test_eval_order_is_sorted_by_length():
    lengths = [5, 1, 3, 3, 9]
    assert list(BucketBatchSampler(lengths, 2, shuffle=False)) == [[1, 2], [3, 0], [4]]


def test_collate_pads_and_keeps_lengths_on_cpu_as_int64():
    dataset = EncodedDataset([[5, 6, 7], [8], [9, 10]], [1, 0, 1])
    batch = PadCollate(pad_id=0)([dataset[i] for i in range(3)])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert batch["lengths"].dtype == torch.int64 and batch["lengths"].device.type == "cpu"
    assert batch["lengths"].tolist() == [3, 1, 2]
    assert batch["labels"].tolist() == [1, 0, 1]
    assert batch["index"].tolist() == [0, 1, 2]
