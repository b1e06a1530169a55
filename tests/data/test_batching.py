import numpy as np
import pytest
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


# --- several ranks (DDP) --------------------------------------------------------------------
def rank_batches(lengths, batch_size, replicas, **options):
    return [list(BucketBatchSampler(lengths, batch_size, num_replicas=replicas, rank=r, **options)) for r in range(replicas)]


@given(
    lengths=lengths_st,
    batch_size=st.integers(1, 40),
    pool=st.integers(1, 8),
    replicas=st.integers(1, 6),
    epoch=st.integers(0, 3),
    shuffle=st.booleans(),
)
def test_ranks_share_an_epoch_evenly_and_see_every_example_once(lengths, batch_size, pool, replicas, epoch, shuffle):
    per_rank = rank_batches(lengths, batch_size, replicas, shuffle=shuffle, pool_batches=pool, seed=5)
    for r, batches in enumerate(per_rank):
        sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, pool_batches=pool, seed=5, num_replicas=replicas, rank=r)
        assert len(batches) == len(sampler)  # equal counts: DDP ranks step in lockstep
    assert len({len(b) for b in per_rank}) == 1
    assert all(1 <= len(batch) <= batch_size for batches in per_rank for batch in batches)
    seen = sorted(i for batches in per_rank for batch in batches for i in batch)
    if len(lengths) >= replicas * len(per_rank[0]):
        assert seen == list(range(len(lengths)))  # exactly once across ranks
    else:  # fewer examples than batch slots: whole batches repeat, nothing is missed
        assert set(seen) == set(range(len(lengths)))


@given(lengths=lengths_st, batch_size=st.integers(1, 40), pool=st.integers(1, 8), replicas=st.integers(2, 6))
def test_ranks_with_drop_last_get_equal_full_batches_and_no_repeats(lengths, batch_size, pool, replicas):
    per_rank = rank_batches(lengths, batch_size, replicas, pool_batches=pool, drop_last=True)
    assert len({len(b) for b in per_rank}) == 1
    flat = [i for batches in per_rank for batch in batches for i in batch]
    assert len(flat) == len(set(flat))
    assert all(len(batch) == batch_size for batches in per_rank for batch in batches)
    unsharded = BucketBatchSampler(lengths, batch_size, pool_batches=pool, drop_last=True)
    assert len(unsharded) - len(per_rank[0]) * replicas < replicas  # fewer than one batch per rank dropped


@given(lengths=lengths_st, batch_size=st.integers(1, 20), replicas=st.integers(1, 4), epoch=st.integers(0, 3))
def test_sharding_is_deterministic_for_seed_and_epoch(lengths, batch_size, replicas, epoch):
    def take(seed):
        samplers = [BucketBatchSampler(lengths, batch_size, seed=seed, num_replicas=replicas, rank=r) for r in range(replicas)]
        for s in samplers:
            s.set_epoch(epoch)
        return [list(s) for s in samplers]

    assert take(7) == take(7)


def test_one_replica_is_the_unsharded_order_and_bad_ranks_are_refused():
    lengths = np.random.default_rng(0).integers(1, 30, size=300)
    assert list(BucketBatchSampler(lengths, 8, seed=2, num_replicas=1, rank=0)) == list(BucketBatchSampler(lengths, 8, seed=2))
    with pytest.raises(ValueError):
        BucketBatchSampler(lengths, 8, num_replicas=2, rank=2)


def test_replicas_default_to_the_initialised_process_group(monkeypatch):
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 3)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 2)
    sampler = BucketBatchSampler(list(range(1, 31)), 4)
    assert (sampler.num_replicas, sampler.rank) == (3, 2)
    assert BucketBatchSampler(list(range(1, 31)), 4, num_replicas=1, rank=0).num_replicas == 1


# --- resuming -------------------------------------------------------------------------------
@given(
    lengths=st.lists(st.integers(1, 60), min_size=1, max_size=300),
    batch_size=st.integers(1, 16),
    replicas=st.integers(1, 3),
    epoch=st.integers(0, 3),
    data=st.data(),
)
def test_a_restored_sampler_continues_where_the_saved_one_stopped(lengths, batch_size, replicas, epoch, data):
    def make(rank):
        return BucketBatchSampler(lengths, batch_size, seed=11, num_replicas=replicas, rank=rank)

    rank = data.draw(st.integers(0, replicas - 1))
    original = make(rank)
    original.set_epoch(epoch)
    full = list(original)
    taken = data.draw(st.integers(0, len(full)))
    iterator = iter(original)
    for _ in range(taken):
        next(iterator)
    state = original.state_dict()
    assert state == {"epoch": epoch, "batches_done": taken}

    restored = make(rank)
    restored.load_state_dict(state)
    if taken < len(full):
        assert list(restored) == full[taken:]
    else:  # a finished epoch continues with the next one
        assert restored.epoch == epoch + 1
        nxt = make(rank)
        nxt.set_epoch(epoch + 1)
        assert list(restored) == list(nxt)
    # the skip applies to one pass only
    again = make(rank)
    again.set_epoch(restored.epoch)
    assert list(restored) == list(again)


def test_the_epoch_reaches_the_sampler_through_lightning():
    """Lightning calls set_epoch on ``batch_sampler.sampler``; each epoch must get a fresh order."""
    from lightning_fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    dataset = EncodedDataset([[1] * (i % 7 + 1) for i in range(64)], [0] * 64)
    loader = DataLoader(dataset, batch_sampler=BucketBatchSampler(dataset.lengths, 8, seed=1), collate_fn=PadCollate())
    orders = []
    for epoch in range(3):
        _set_sampler_epoch(loader, epoch)
        orders.append([b["index"].tolist() for b in loader])
    assert orders[0] != orders[1] != orders[2]


def test_a_restored_sampler_resumes_through_a_multi_worker_dataloader():
    """torch's multi-worker iterator asks the sampler for two iterators and uses the second."""
    from torch.utils.data import DataLoader

    dataset = EncodedDataset([[1] * (i % 9 + 1) for i in range(90)], [0] * 90)
    sampler = BucketBatchSampler(dataset.lengths, 8, seed=4)
    sampler.set_epoch(2)
    full = list(sampler)
    restored = BucketBatchSampler(dataset.lengths, 8, seed=4)
    restored.load_state_dict({"epoch": 2, "batches_done": 4})
    loader = DataLoader(dataset, batch_sampler=restored, collate_fn=PadCollate(), num_workers=1)
    assert [b["index"].tolist() for b in loader] == full[4:]
    assert [b["index"].tolist() for b in loader] == full  # the next pass is a whole epoch again
