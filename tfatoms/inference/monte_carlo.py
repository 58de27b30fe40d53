"""Metropolis Monte Carlo with EDNN energies, re-evaluating only the tiles a move touches (EDNN sec. 3.3, Fig. 13).

EDNN is extensive: ``E = sum_tiles e(tile)``. A single-atom move changes the Gaussian image (EDNN eq. 2) only
within the stencil radius of the atom's old and new positions, so only the tiles whose focus + context window
holds one of those pixels change. :class:`LocalTileEnergy` keeps the image and every tile's energy; a proposed
move re-rasterises just the two changed pixel blocks (from all atoms near them, so the image equals a fresh
rasterisation up to float32 summation order), re-evaluates just the touched tiles (up to 3 x 3 of the 16 for the
paper's 60-atom cell with f = 64, c = 32 on 256 x 256 pixels, 7.7 on average: every pixel lies in two tile windows
per axis and an atom's stencil block usually crosses a window edge) and returns the energy change; :meth:`accept` keeps it,
:meth:`reject` restores both. :func:`metropolis` runs the chain.

Periodic, orthogonal 2-D cells (the sheets of the papers); pixel ``k`` sits at ``k * cell / pixels``.
"""
from __future__ import annotations

import math
import time

import numpy as np

from tfatoms.representations.gaussian_image import rasterize_window, stencil_radius


class LocalTileEnergy:
    """EDNN energy of a periodic 2-D structure under single-atom moves, with cached tile energies.

    Args:
        ednn: an :class:`~tfatoms.models.EDNN` (``tile_network``, ``focus``, ``context``).
        positions: ``(n, 2)`` or ``(n, 3)`` Angstrom (z ignored).
        numbers: ``(n,)`` atomic numbers (the Gaussian heights).
        cell: 2 lengths of the orthogonal cell, Angstrom.
        pixels: 2 image sizes, multiples of the focus.
        gamma: Gaussian width, Angstrom (0.2 in both papers).
        energy_scale: multiplies the tile network's output (e.g. a model trained on scaled energies).
    """

    def __init__(self, ednn, positions, numbers, cell, pixels, gamma: float = 0.2, energy_scale: float = 1.0):
        import tensorflow as tf

        self.network = ednn.tile_network
        self.focus, self.context = int(ednn.focus), int(ednn.context)
        self.pixels = tuple(int(p) for p in pixels)
        if len(self.pixels) != 2 or any(p % self.focus for p in self.pixels):
            raise ValueError(f"pixels must be 2 multiples of the focus {self.focus}, got {pixels}")
        self.cell = np.asarray(cell, np.float64).reshape(2)
        self.spacing = self.cell / np.array(self.pixels)
        self.positions = np.array(positions, np.float64)[:, :2] % self.cell
        self.numbers = np.asarray(numbers).astype(np.int64)
        self.gamma = float(gamma)
        self.radius = stencil_radius(self.gamma)
        self.energy_scale = float(energy_scale)
        self.tiles = tuple(p // self.focus for p in self.pixels)
        self.image = rasterize_window(self.positions, self.numbers, self.spacing, (0, 0), self.pixels,
                                      gamma=self.gamma, period=self.pixels)
        t = self.focus + 2 * self.context
        self._net = tf.function(lambda x: self.network(x, training=False), reduce_retracing=True,
                                input_signature=[tf.TensorSpec([None, t, t, 1], tf.float32)])
        self._windows = [np.stack([self._tile_pixels(i, axis) for i in range(self.tiles[axis])]) for axis in range(2)]
        all_tiles = [(i, j) for i in range(self.tiles[0]) for j in range(self.tiles[1])]
        self.tile_energy = np.zeros(self.tiles, np.float64)
        self.tile_energy[tuple(np.array(all_tiles).T)] = self._evaluate(all_tiles)
        self.n_tile_evaluations = 0
        self._pending = None

    # -------------------------------------------------------------------------------------------------- tiles
    def _tile_pixels(self, i: int, axis: int) -> np.ndarray:
        """Global pixel indices (mod the grid) of tile ``i``'s window along ``axis``."""
        t = self.focus + 2 * self.context
        return (i * self.focus - self.context + np.arange(t)) % self.pixels[axis]

    def _evaluate(self, tiles) -> np.ndarray:
        """Energies (float64) of the given tiles of the current image."""
        batch = np.stack([self.image[np.ix_(self._windows[0][i], self._windows[1][j])]
                          for i, j in tiles])[..., None].astype(np.float32)
        out = self._net(batch).numpy().reshape(len(tiles), -1)[:, 0]
        return self.energy_scale * out.astype(np.float64)

    def _tiles_touching(self, lo, hi) -> set:
        """Tiles whose window holds a pixel of the block ``[lo, hi]`` (inclusive, may wrap)."""
        sets = []
        for axis in range(2):
            changed = np.zeros(self.pixels[axis], bool)
            changed[np.arange(lo[axis], hi[axis] + 1) % self.pixels[axis]] = True
            sets.append(np.flatnonzero(changed[self._windows[axis]].any(axis=1)).tolist())
        return {(i, j) for i in sets[0] for j in sets[1]}

    # -------------------------------------------------------------------------------------------------- image
    def _block(self, xy):
        """Pixel block ``(lo, hi)`` (inclusive) an atom at ``xy`` contributes to."""
        lo = np.floor((xy - self.radius) / self.spacing).astype(np.int64)
        hi = np.ceil((xy + self.radius) / self.spacing).astype(np.int64)
        return lo, hi

    def _rasterize_block(self, lo, hi) -> np.ndarray:
        """The block's pixels from every atom within the stencil radius of it (one periodic image each)."""
        start = lo * self.spacing
        stop = hi * self.spacing
        centre, half = 0.5 * (start + stop), 0.5 * (stop - start) + self.radius
        d = self.positions - centre
        d -= np.round(d / self.cell) * self.cell                      # minimum image
        near = np.all(np.abs(d) <= half + 1e-9, axis=1)
        pos = centre + d[near]
        return rasterize_window(pos, self.numbers[near], self.spacing, lo, hi - lo + 1, gamma=self.gamma,
                                period=self.pixels)

    def _block_index(self, lo, hi):
        """``np.ix_`` index of the (wrapped) pixel block ``[lo, hi]``."""
        return np.ix_(*(np.arange(lo[a], hi[a] + 1) % self.pixels[a] for a in range(2)))

    def _write_block(self, lo, hi, values):
        self.image[self._block_index(lo, hi)] = values

    def _read_block(self, lo, hi):
        return self.image[self._block_index(lo, hi)].copy()

    # -------------------------------------------------------------------------------------------------- moves
    @property
    def energy(self) -> float:
        """The current total energy (sum of the cached tile energies)."""
        return float(self.tile_energy.sum())

    def propose(self, atom: int, new_xy) -> float:
        """Move ``atom`` to ``new_xy`` (Angstrom) tentatively; return the energy change. Then :meth:`accept` or
        :meth:`reject` (another ``propose`` first rejects the pending move)."""
        if self._pending is not None:
            self.reject()
        atom = int(atom)
        old_xy = self.positions[atom].copy()
        new_xy = np.asarray(new_xy, np.float64).reshape(-1)[:2] % self.cell
        blocks = [self._block(old_xy), self._block(new_xy)]
        saved = [self._read_block(lo, hi) for lo, hi in blocks]
        self.positions[atom] = new_xy
        for lo, hi in blocks:
            self._write_block(lo, hi, self._rasterize_block(lo, hi))
        touched = sorted(self._tiles_touching(*blocks[0]) | self._tiles_touching(*blocks[1]))
        new = self._evaluate(touched)
        self.n_tile_evaluations += len(touched)
        index = tuple(np.array(touched).T)
        delta = float(new.sum() - self.tile_energy[index].sum())
        self._pending = (atom, old_xy, blocks, saved, index, new)
        return delta

    def accept(self):
        atom, old_xy, blocks, saved, index, new = self._pending
        self.tile_energy[index] = new
        self._pending = None

    def reject(self):
        atom, old_xy, blocks, saved, index, new = self._pending
        self.positions[atom] = old_xy
        for (lo, hi), values in zip(reversed(blocks), reversed(saved)):   # undo in reverse order (overlaps)
            self._write_block(lo, hi, values)
        self._pending = None

    def full_energy(self) -> float:
        """The energy re-evaluated from scratch (a fresh image, every tile): what the cache must equal."""
        image = rasterize_window(self.positions, self.numbers, self.spacing, (0, 0), self.pixels,
                                 gamma=self.gamma, period=self.pixels)
        cached = self.image
        self.image = image
        try:
            tiles = [(i, j) for i in range(self.tiles[0]) for j in range(self.tiles[1])]
            return float(self._evaluate(tiles).sum())
        finally:
            self.image = cached


def metropolis(energy: LocalTileEnergy, temperature_K: float, steps: int, max_step: float = 0.1, seed: int = 0,
               record_every: int = 0, progress: bool = False) -> dict:
    """Metropolis Monte Carlo of single-atom moves (uniform in a square of side ``2 max_step`` A, in the plane).

    Returns ``{"acceptance", "energies" (after each recorded step), "frames" ((k, n, 2) positions every
    ``record_every`` steps), "seconds_per_move"}``. Seeded: the same seed gives the same chain.
    """
    from ase.units import kB
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    beta = 1.0 / (kB * float(temperature_K)) if temperature_K > 0 else math.inf
    accepted, energies, frames = 0, [], []
    n = len(energy.positions)
    t0 = time.perf_counter()
    for step in tqdm(range(int(steps)), disable=not progress, desc="Monte Carlo", unit="move"):
        atom = int(rng.integers(n))
        trial = energy.positions[atom] + rng.uniform(-max_step, max_step, 2)
        delta = energy.propose(atom, trial)
        if delta <= 0 or rng.random() < math.exp(-beta * delta):
            energy.accept()
            accepted += 1
        else:
            energy.reject()
        if record_every and (step + 1) % record_every == 0:
            energies.append(energy.energy)
            frames.append(energy.positions.copy())
    seconds = time.perf_counter() - t0
    return {"acceptance": accepted / max(1, int(steps)), "energies": np.array(energies),
            "frames": np.array(frames).reshape(-1, n, 2), "seconds_per_move": seconds / max(1, int(steps))}
