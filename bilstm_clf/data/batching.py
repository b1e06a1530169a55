"""Length-bucketed batching and padding collate (what torchtext's BucketIterator did)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class EncodedDataset(Dataset):
    """Pre-encoded examples: item ``i`` is ``(ids, label, i)``; the index lets callers trace predictions."""

    def __init__(self, ids: Sequence[Sequence[int]], labels: Sequence[int]):
        if len(ids) != len(labels):
            raise ValueError("ids and labels differ in length")
        self.ids = [np.asarray(x, dtype=np.int64) for x in ids]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.lengths = np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        return self.ids[i], int(self.labels[i]), i


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length, so padding (and packing overhead) stays small.

    Training (``shuffle=True``): each epoch shuffles all indices, sorts inside pools of
    ``pool_batches`` batches, cuts the pools into batches and shuffles the batches.
    Evaluation (``shuffle=False``): one global sort by length, fixed order.
    The order depends only on ``seed`` and the epoch set by ``set_epoch`` (Lightning calls it).
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
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.pool_batches = max(1, pool_batches)
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[np.ndarray]:
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
        for batch in self.batches():
            yield batch.tolist()

    def __len__(self) -> int:
        n = len(self.lengths)
        if n == 0:
            return 0
        pool = self.batch_size * self.pool_batches if self.shuffle else n
        sizes = (min(pool, n - start) for start in range(0, n, pool))
        if self.drop_last:
            return sum(size // self.batch_size for size in sizes)
        return sum(-(-size // self.batch_size) for size in sizes)


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
