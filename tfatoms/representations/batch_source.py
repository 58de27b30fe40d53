"""The batch-source protocol of :class:`~tfatoms.train.trainer.BatchTrainer`.

A subclass holds ``n`` examples, ``batch_size`` and optional ``targets`` (n,)
and implements ``__len__`` and ``collate(indices) -> (inputs, targets, weights)``
(fixed shapes, weight 0 for padding slots); ordering and batching live here once.
"""
from __future__ import annotations

import numpy as np


class BatchSource:
    """Iterates fixed-shape batches of ``collate``-d examples, in order or shuffled by a seed."""

    batch_size: int
    targets: np.ndarray | None

    def __len__(self) -> int:
        raise NotImplementedError

    def collate(self, indices):
        raise NotImplementedError

    def n_batches(self) -> int:
        return -(-len(self) // self.batch_size)

    def batch_indices(self, shuffle_seed: int | None = None):
        """Iterate ``(k, indices)``: the example indices of batch ``k``, in order or shuffled by ``shuffle_seed``
        (the order :meth:`batches` collates; a distributed trainer cuts each into per-replica shards)."""
        order = np.arange(len(self))
        if shuffle_seed is not None:
            order = np.random.default_rng(shuffle_seed).permutation(len(self))
        for k, start in enumerate(range(0, len(order), self.batch_size)):
            yield k, order[start:start + self.batch_size]

    def batches(self, shuffle_seed: int | None = None):
        """Iterate ``(indices, inputs, targets, weights)`` over all examples.

        ``shuffle_seed=None`` keeps the order (evaluation); otherwise a permutation
        drawn from that seed (training: pass e.g. ``seed * 100003 + epoch``).
        """
        for k, sel in self.batch_indices(shuffle_seed):
            yield (sel, *(self.collate(sel) if shuffle_seed is None else self.collate_training(sel, shuffle_seed, k)))

    def collate_training(self, indices, shuffle_seed: int, batch: int):
        """A training batch (``batches`` with a ``shuffle_seed``): :meth:`collate` here; a source with data
        augmentation changes it here, drawing from ``(its seed, shuffle_seed, batch)`` so that a resumed run
        sees the same batches. Evaluation batches never go through it."""
        return self.collate(indices)
