"""Configurations as batches of Gaussian images, rasterised on the fly (CNNAS eq. 1, EDNN eq. 2).

A batch source for :class:`~tfatoms.train.trainer.BatchTrainer`: configurations
stay as atom positions (a few MB) and each batch is rasterised when it is
needed (about 1 ms per 384 x 384 sheet image, ~20 us per dimer image), instead
of holding every image (12,000 porous graphene images would take 7 GB in
float32, the CNNAS paper's 500,000 dimer images 131 GB).

Used for periodic EDNN sheets (2-D, ``periodic=True``) and for the CNNAS dimers
(2-D or 3-D boxes, ``periodic=False``).
"""
from __future__ import annotations

import numpy as np

from tfatoms._validation import finite_array, positive_int
from tfatoms.representations.batch_source import BatchSource
from tfatoms.representations.gaussian_image import _check_gamma_tol, check_resolvable_width, rasterize_window


class AtomImages(BatchSource):
    """Configurations in one orthogonal 2-D or 3-D cell, collated as ``(B, *pixels, 1)`` images.

    Args:
        positions: ``(n_total, d)`` Angstrom (for d = 2 also ``(n_total, 3)`` with z ignored),
            all configurations concatenated.
        offsets: ``(n + 1,)``; configuration ``k`` is ``positions[offsets[k]:offsets[k + 1]]``.
        cell: ``d`` cell lengths shared by every configuration (Angstrom); the grid point ``k``
            sits at ``k * cell / pixels``.
        pixels: ``d`` image sizes (2 or 3 entries: the image dimension ``d``).
        numbers: atomic numbers (``(n_total,)`` or one int for all atoms), the Gaussian heights.
        targets: ``(n,)`` or None.
        batch_size: images per batch; the last batch is padded with empty images of weight 0
            so every batch has the same shape.
        gamma: Gaussian width (Angstrom, both papers: 0.2); at least 0.25 times the largest pixel
            spacing ``cell / pixels`` (else ``ValueError``: the image would be almost all zeros).
        periodic: wrap the Gaussians across the cell faces (sheets) or not (an isolated
            molecule in a box: CNNAS dimers).
        translation_augmentation: beyond the papers' protocol as printed, periodic images only. Every
            *training* batch (``batches`` with a ``shuffle_seed``) moves each configuration by a random
            translation, uniform over the cell, drawn from ``(augmentation_seed, shuffle_seed, batch)`` (a
            resumed run sees the same ones); evaluation batches are never moved. The energy of a periodic cell
            does not change under translation, but the pixels and the tile contents do: the papers' restarted
            MD puts each 0.15 ps run at a random translation and so covers them in 269,016 frames; a dataset of
            a few runs needs this to do the same.
        augmentation_seed: seed of the translations.
    """

    def __init__(self, positions, offsets, cell, pixels, numbers, targets=None, batch_size: int = 8,
                 gamma: float = 0.2, periodic: bool = True, dtype=np.float32, translation_augmentation: bool = False,
                 augmentation_seed: int = 0):
        self.pixels = tuple(positive_int(p, "pixels entry") for p in pixels)
        dim = len(self.pixels)
        if dim not in (2, 3):
            raise ValueError(f"pixels must have 2 or 3 entries (the image dimension), got {pixels}")
        positions = finite_array(positions, "positions", ndim=2)
        if positions.shape[1] != dim and not (dim == 2 and positions.shape[1] == 3):
            raise ValueError(f"positions must be (n, {dim}) for {dim}-D images, got {positions.shape}")
        self.positions = positions[:, :dim].copy()
        self.offsets = np.asarray(offsets, np.int64)
        if self.offsets.ndim != 1 or len(self.offsets) < 2 or self.offsets[0] != 0 \
                or self.offsets[-1] != len(self.positions) or np.any(np.diff(self.offsets) < 0):
            raise ValueError(f"offsets must rise from 0 to len(positions) = {len(self.positions)}")
        self.cell = finite_array(cell, "cell", ndim=1)
        if self.cell.shape != (dim,) or np.any(self.cell <= 0):
            raise ValueError(f"cell must be {dim} positive lengths (Angstrom) for {dim}-D images, got {cell}")
        self.spacing = self.cell / np.array(self.pixels)
        n = len(self.offsets) - 1
        self.numbers = np.broadcast_to(np.asarray(numbers, np.int64), (len(self.positions),))
        self.targets = None if targets is None else finite_array(targets, "targets", ndim=1)
        if self.targets is not None and len(self.targets) != n:
            raise ValueError(f"targets has {len(self.targets)} entries for {n} configurations")
        self.batch_size = positive_int(batch_size, "batch_size")
        self.gamma = check_resolvable_width(_check_gamma_tol(gamma, 1e-8)[0], self.spacing, "images")
        self.periodic = bool(periodic)
        self.dtype = np.dtype(dtype)
        if translation_augmentation and not self.periodic:
            raise ValueError("translation_augmentation needs periodic images (a translated molecule in a box "
                             "is a different image of the same energy only if it stays inside)")
        self.translation_augmentation = bool(translation_augmentation)
        self.augmentation_seed = int(augmentation_seed)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def image(self, k: int, out: np.ndarray | None = None, shift=None) -> np.ndarray:
        """Image ``pixels`` of configuration ``k`` (its atoms moved by ``shift``, Angstrom, if given)."""
        a, b = self.offsets[k], self.offsets[k + 1]
        period = self.pixels if self.periodic else None
        positions = self.positions[a:b] if shift is None else (self.positions[a:b] + shift) % self.cell
        return rasterize_window(positions, self.numbers[a:b], self.spacing, (0,) * len(self.pixels),
                                self.pixels, gamma=self.gamma, period=period, dtype=self.dtype, out=out)

    def augmented(self, seed: int = 0) -> "AtomImages":
        """The same configurations with ``translation_augmentation`` on (seed ``seed``); the arrays are shared."""
        import copy

        if not self.periodic:
            raise ValueError("translation_augmentation needs periodic images")
        out = copy.copy(self)
        out.translation_augmentation, out.augmentation_seed = True, int(seed)
        return out

    def collate_training(self, indices, shuffle_seed: int, batch: int):
        """A training batch, each configuration translated at random when ``translation_augmentation`` is on."""
        if not self.translation_augmentation:
            return self.collate(indices)
        rng = np.random.default_rng([self.augmentation_seed, shuffle_seed, batch])
        return self.collate(indices, shifts=rng.random((len(indices), len(self.pixels))) * self.cell)

    def collate(self, indices, shifts=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(images (B, *pixels, 1), targets (B,), weights (B,))`` for up to ``batch_size`` configurations
        (each moved by its row of ``shifts``, Angstrom, if given)."""
        indices = np.asarray(indices, np.int64)
        images = np.zeros((self.batch_size, *self.pixels, 1), self.dtype)
        targets = np.zeros(self.batch_size, np.float32)
        weights = np.zeros(self.batch_size, np.float32)
        for slot, k in enumerate(indices):
            self.image(int(k), out=images[slot, ..., 0], shift=None if shifts is None else shifts[slot])
        if self.targets is not None:
            targets[:len(indices)] = self.targets[indices]
        weights[:len(indices)] = 1.0
        return images, targets, weights
