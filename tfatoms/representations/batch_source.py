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


class ConcatenatedSources(BatchSource):
    """Several batch sources of one model as one: every batch comes from one of them, so each keeps its own input
    shape and batch size (EDNN images of cells of different sizes: a 34 x 34 A sheet and a long strained one).

    Example ``k`` is example ``k - start_j`` of the source ``j`` it falls in (the sources in order). In order
    (``shuffle_seed=None``) the batches are source 0's, then source 1's, ...; shuffled, each source's examples are
    permuted by ``(shuffle_seed, j)`` and the batches of all sources are then dealt in a permutation drawn from
    ``shuffle_seed``. A training batch goes through its source's ``collate_training`` (its augmentation, drawn from
    the batch's global number). ``batch_size`` is the largest of the sources'.

    ``loss_weights`` (one per source, default 1) multiply the weights of the source's examples: the losses divide
    by the number of real examples, so an example of weight 0.25 counts a quarter (an EDNN trained on sheets of two
    areas: ``(area_small / area_large) ** 2`` makes the squared energy errors of the large ones count per area).
    """

    def __init__(self, sources, loss_weights=None):
        self.sources = list(sources)
        self.loss_weights = [1.0] * len(self.sources) if loss_weights is None else [float(w) for w in loss_weights]
        if len(self.loss_weights) != len(self.sources) or not all(w > 0 for w in self.loss_weights):
            raise ValueError(f"loss_weights must be one positive number per source, got {loss_weights!r}")
        if not self.sources:
            raise ValueError("ConcatenatedSources needs at least one source")
        has_targets = {s.targets is not None for s in self.sources}
        if len(has_targets) != 1:
            raise ValueError("either every source has targets or none has")
        self.starts = np.concatenate([[0], np.cumsum([len(s) for s in self.sources])])
        self.targets = np.concatenate([s.targets for s in self.sources]) if True in has_targets else None
        self.batch_size = max(s.batch_size for s in self.sources)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def n_batches(self) -> int:
        return sum(s.n_batches() for s in self.sources)

    def batch_indices(self, shuffle_seed: int | None = None):
        batches = []
        for j, s in enumerate(self.sources):
            order = np.arange(len(s)) if shuffle_seed is None else \
                np.random.default_rng([shuffle_seed, j]).permutation(len(s))
            batches += [self.starts[j] + order[a:a + s.batch_size] for a in range(0, len(s), s.batch_size)]
        deal = range(len(batches)) if shuffle_seed is None else \
            np.random.default_rng(shuffle_seed).permutation(len(batches))
        for k, b in enumerate(deal):
            yield k, batches[b]

    def _source(self, indices):
        indices = np.asarray(indices, np.int64)
        j = int(np.searchsorted(self.starts, indices[0], side="right") - 1)
        if np.any(indices < self.starts[j]) or np.any(indices >= self.starts[j + 1]):
            raise ValueError("a batch of ConcatenatedSources mixes examples of two sources")
        return j, indices - self.starts[j]

    def _weighted(self, j, collated):
        inputs, targets, weights = collated
        if self.loss_weights[j] == 1.0:
            return inputs, targets, weights
        import tensorflow as tf

        return inputs, targets, tf.nest.map_structure(lambda w: w * np.asarray(self.loss_weights[j], w.dtype),
                                                      weights)

    def collate(self, indices):
        j, local = self._source(indices)
        return self._weighted(j, self.sources[j].collate(local))

    def collate_training(self, indices, shuffle_seed: int, batch: int):
        j, local = self._source(indices)
        return self._weighted(j, self.sources[j].collate_training(local, shuffle_seed, batch))
