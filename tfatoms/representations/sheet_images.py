"""Periodic sheets as batches of Gaussian images, rasterised on the fly (EDNN sec. 2.1, 3.2.2).

A batch source for :class:`~tfatoms.train.trainer.BatchTrainer`: configurations
stay as atom positions (a few MB) and each batch is rasterised when it is
needed (about 1 ms per 384 x 384 image), instead of holding every image
(12,000 porous graphene images would take 7 GB in float32).
"""
from __future__ import annotations

import numpy as np

from tfatoms._validation import finite_array, positive_int
from tfatoms.representations.batch_source import BatchSource
from tfatoms.representations.gaussian_image import rasterize_window


class SheetImages(BatchSource):
    """Configurations of one periodic orthogonal 2-D cell, collated as ``(B, nx, ny, 1)`` images.

    Args:
        positions: ``(n_total, 2 or 3)`` Angstrom (z ignored), all configurations concatenated.
        offsets: ``(n + 1,)``; configuration ``k`` is ``positions[offsets[k]:offsets[k + 1]]``.
        cell: ``(lx, ly)`` periodic cell lengths shared by every configuration (Angstrom).
        pixels: ``(nx, ny)`` image size; the pixel spacing is ``cell / pixels``.
        targets: ``(n,)`` or None.
        numbers: atomic numbers (``(n_total,)`` or one int for all atoms; carbon by default).
        batch_size: images per batch; the last batch is padded with empty images of weight 0
            so every batch has the same shape.
        gamma: Gaussian width (Angstrom, EDNN: 0.2).
    """

    def __init__(self, positions, offsets, cell, pixels, targets=None, numbers=6, batch_size: int = 8,
                 gamma: float = 0.2, dtype=np.float32):
        self.positions = finite_array(positions, "positions", ndim=2)[:, :2].copy()
        self.offsets = np.asarray(offsets, np.int64)
        if self.offsets.ndim != 1 or len(self.offsets) < 2 or self.offsets[0] != 0 \
                or self.offsets[-1] != len(self.positions) or np.any(np.diff(self.offsets) < 0):
            raise ValueError(f"offsets must rise from 0 to len(positions) = {len(self.positions)}")
        self.cell = finite_array(cell, "cell", ndim=1)[:2]
        self.pixels = tuple(positive_int(p, "pixels entry") for p in pixels)
        if len(self.pixels) != 2 or np.any(self.cell <= 0):
            raise ValueError(f"cell must be 2 positive lengths and pixels 2 sizes, got {cell}, {pixels}")
        self.spacing = self.cell / np.array(self.pixels)
        n = len(self.offsets) - 1
        self.numbers = np.broadcast_to(np.asarray(numbers, np.int64), (len(self.positions),))
        self.targets = None if targets is None else finite_array(targets, "targets", ndim=1)
        if self.targets is not None and len(self.targets) != n:
            raise ValueError(f"targets has {len(self.targets)} entries for {n} configurations")
        self.batch_size = positive_int(batch_size, "batch_size")
        self.gamma = float(gamma)
        self.dtype = np.dtype(dtype)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def image(self, k: int, out: np.ndarray | None = None) -> np.ndarray:
        """Image ``(nx, ny)`` of configuration ``k`` (periodic)."""
        a, b = self.offsets[k], self.offsets[k + 1]
        return rasterize_window(self.positions[a:b], self.numbers[a:b], self.spacing, (0, 0), self.pixels,
                                gamma=self.gamma, period=self.pixels, dtype=self.dtype, out=out)

    def collate(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(images (B, nx, ny, 1), targets (B,), weights (B,))`` for up to ``batch_size`` configurations."""
        indices = np.asarray(indices, np.int64)
        images = np.zeros((self.batch_size, *self.pixels, 1), self.dtype)
        targets = np.zeros(self.batch_size, np.float32)
        weights = np.zeros(self.batch_size, np.float32)
        for slot, k in enumerate(indices):
            images[slot, ..., 0] = self.image(int(k))
        if self.targets is not None:
            targets[:len(indices)] = self.targets[indices]
        weights[:len(indices)] = 1.0
        return images, targets, weights
