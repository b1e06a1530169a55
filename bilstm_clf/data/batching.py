"""Length-bucketed batching and padding collate (what torchtext's BucketIterator did)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EncodedDataset(Dataset):
    """Encoded rows as flat arrays: row ``i`` is ``tokens[offsets[i]:offsets[i + 1]]`` (a memory map
    of the prepared-data cache, or arrays in memory). Item ``i`` is ``(ids, label, i)``; the index
    lets callers trace predictions."""

    def __init__(self, ids: Sequence[Sequence[int]], labels: Sequence[int]):
        if len(ids) != len(labels):
            raise ValueError("ids and labels differ in length")
        lengths = np.fromiter(map(len, ids), np.int64, len(ids))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        tokens = np.fromiter(itertools.chain.from_iterable(ids), np.int64, int(offsets[-1]))
        self._set(tokens, offsets, np.asarray(labels, dtype=np.int64))

    @classmethod
    def from_arrays(cls, tokens: np.ndarray, offsets: np.ndarray, labels: np.ndarray) -> EncodedDataset:
        dataset = cls.__new__(cls)
        dataset._set(tokens, np.asarray(offsets, np.int64), labels)
        return dataset

    def _set(self, tokens: np.ndarray, offsets: np.ndarray, labels: np.ndarray) -> None:
        if len(offsets) != len(labels) + 1:
            raise ValueError("offsets and labels differ in length")
        self.tokens, self.offsets, self.labels = tokens, offsets, labels
        self.lengths = np.diff(offsets)

    def __len__(self) -> int:
        return len(self.labels)

    def row(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def __getitem__(self, i: int):
        return self.row(i), int(self.labels[i]), i


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length, so padding (and packing overhead) stays small.

    Training (``shuffle=True``): each epoch shuffles all indices, sorts inside pools of
    ``pool_batches`` batches, cuts the pools into batches and shuffles the batches.
    Evaluation (``shuffle=False``): one global sort by length, fixed order.
    The order depends only on ``seed`` and the epoch set by ``set_epoch`` (Lightning calls it).

    Several processes (DDP): every rank builds the same batches for the epoch and takes every
    ``num_replicas``-th one, starting at ``rank``. DDP steps all ranks in lockstep, so each rank must
    get as many batches: when the count does not divide evenly, the largest batches are split in two
    (every example is still seen exactly once per epoch). Only a split with fewer examples than
    ``num_replicas`` x batches-per-rank cannot be split that far; then whole batches are repeated.
    With ``drop_last`` the surplus batches are dropped instead (no example twice, a few not at all).
    ``num_replicas``/``rank`` default to the initialised ``torch.distributed`` group, else 1 and 0.

    Resuming: ``state_dict()`` records the epoch and how many of this rank's batches were taken;
    after ``load_state_dict()`` the next pass over that epoch skips them.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        pool_batches: int = 50,
        drop_last: bool = False,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if num_replicas is None or rank is None:
            detected_replicas, detected_rank = _distributed_world()
            num_replicas = detected_replicas if num_replicas is None else num_replicas
            rank = detected_rank if rank is None else rank
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need num_replicas >= 1 and 0 <= rank < num_replicas, got {num_replicas} and {rank}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.pool_batches = max(1, pool_batches)
        self.drop_last = drop_last
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.batches_taken = 0  # of this rank's batches in the current pass
        self._skip: tuple[int, int] | None = None  # (epoch, batches) to skip on the next pass

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def sampler(self) -> BucketBatchSampler:
        """Lightning calls ``set_epoch`` on ``batch_sampler.sampler`` (torch's BatchSampler layout),
        never on the batch sampler itself: this makes it reach us."""
        return self

    # --- resuming -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_done": self.batches_taken}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue after ``state["batches_done"]`` batches of ``state["epoch"]``; a finished epoch
        continues at the start of the next one."""
        epoch, done = int(state["epoch"]), int(state["batches_done"])
        if done >= len(self):
            epoch, done = epoch + 1, 0
        self.epoch = epoch
        self._skip = (epoch, done) if done > 0 else None

    # --- batches --------------------------------------------------------------------------
    def batches(self) -> list[np.ndarray]:
        """This rank's batches for the current epoch, in order."""
        batches = self.global_batches()
        if self.num_replicas == 1:
            return batches
        return _divide_evenly(batches, self.num_replicas, self.drop_last)[self.rank :: self.num_replicas]

    def global_batches(self) -> list[np.ndarray]:
        """All ranks' batches for the current epoch, before they are shared out."""
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return self._cut(order)
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        pool = self.batch_size * self.pool_batches
        batches: list[np.ndarray] = []
        for start in range(0, n, pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(self._cut(chunk))
        return [batches[i] for i in rng.permutation(len(batches))]

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        # The batch list and the skip are fixed here, when the DataLoader asks for an iterator.
        batches = self.batches()
        start = 0
        if self._skip is not None and self._skip[0] != self.epoch:
            self._skip = None  # moved on to another epoch
        if self._skip is not None:
            start = min(self._skip[1], len(batches))
        self.batches_taken = start
        return self._take(batches[start:])

    def _take(self, batches: list[np.ndarray]) -> Iterator[list[int]]:
        for batch in batches:
            # The skip ends with the first batch handed out, not when an iterator is made: a
            # multi-worker DataLoader makes two and uses the second.
            self._skip = None
            self.batches_taken += 1
            yield batch.tolist()

    def __len__(self) -> int:
        n = len(self.lengths)
        if n == 0:
            return 0
        pool = self.batch_size * self.pool_batches if self.shuffle else n
        sizes = [min(pool, n - start) for start in range(0, n, pool)]
        if self.drop_last:
            total = sum(size // self.batch_size for size in sizes)
            return total // self.num_replicas
        total = sum(-(-size // self.batch_size) for size in sizes)
        return -(-total // self.num_replicas)


def _distributed_world() -> tuple[int, int]:
    """(world size, rank) of the initialised torch.distributed group, else (1, 0)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


def _divide_evenly(batches: list[np.ndarray], replicas: int, drop_last: bool) -> list[np.ndarray]:
    """Make the number of batches a multiple of ``replicas`` (see BucketBatchSampler)."""
    surplus = len(batches) % replicas
    if surplus == 0:
        return batches
    if drop_last:
        return batches[: len(batches) - surplus]
    batches = list(batches)
    missing = replicas - surplus
    while missing and max(len(b) for b in batches) > 1:
        largest = max(range(len(batches)), key=lambda i: len(batches[i]))  # first of the largest
        batch = batches[largest]
        half = (len(batch) + 1) // 2
        batches[largest : largest + 1] = [batch[:half], batch[half:]]
        missing -= 1
    # fewer examples than batch slots: repeat batches from the start
    batches.extend(batches[i % len(batches)] for i in range(missing))
    return batches


class ResumableDataLoader(DataLoader):
    """A training DataLoader over a BucketBatchSampler that continues mid-epoch after a restart.

    Lightning saves ``state_dict()`` in its checkpoints and calls ``load_state_dict()`` just before it
    iterates the loader again (its ``_Stateful`` protocol). The sampler's count of batches taken runs
    ahead of training when batches are fetched early (worker processes prefetch), so ``batches_done``,
    when given, returns the trainer's own count and is saved instead.
    """

    def __init__(self, dataset: Dataset, *, batch_sampler: BucketBatchSampler, batches_done: Callable[[], int] | None = None, **kwargs):
        super().__init__(dataset, batch_sampler=batch_sampler, **kwargs)
        self.batches_done = batches_done

    def state_dict(self) -> dict[str, int]:
        state = self.batch_sampler.state_dict()
        if self.batches_done is not None:
            state["batches_done"] = int(self.batches_done())
        return state

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batch_sampler.load_state_dict(state)


class PadCollate:
    """Right-pads a batch. Returns ``input_ids`` [B, T] int64, ``lengths`` [B] int64 on the CPU
    (pack_padded_sequence wants them there; keeping them on the host avoids device syncs),
    ``labels`` [B] and ``index`` [B] (dataset positions)."""

    def __init__(self, pad_id: int = 0):
        self.pad_id = pad_id

    def __call__(self, items) -> dict[str, torch.Tensor]:
        lengths = np.fromiter((len(ids) for ids, _, _ in items), dtype=np.int64, count=len(items))
        padded = np.full((len(items), int(lengths.max())), self.pad_id, dtype=np.int64)
        for row, (ids, _, _) in enumerate(items):
            padded[row, : len(ids)] = ids
        return {
            "input_ids": torch.from_numpy(padded),
            "lengths": torch.from_numpy(lengths),
            "labels": torch.tensor([label for _, label, _ in items], dtype=torch.int64),
            "index": torch.tensor([i for _, _, i in items], dtype=torch.int64),
        }
