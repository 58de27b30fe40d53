"""Streamed EDNN energy of a periodic sheet of any size (EDNN sec. 3.3, Figs. 9-12).

The sheet's image is never built whole. Its tile grid is cut into windows of
``window_tiles x window_tiles`` tiles; for each window only the atoms within
the window, its context margin and the Gaussian stencil are rasterised
(:func:`~tfatoms.representations.gaussian_image.rasterize_window`, periodic
wrap by pixel index), the window image is cut into its focus + context tiles
(a strided view, no copy per tile), the tile network runs on fixed-size
batches of tiles, and the per-tile energies are summed in float64. The total
equals ``EDNN(image)`` of the whole image (tested) while memory stays bounded
by the window.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from tfatoms._validation import finite_array, positive_int
from tfatoms.representations.gaussian_image import rasterize_window, stencil_radius


@dataclass(frozen=True)
class TileGrid:
    """The pixel grid of a periodic orthogonal sheet and its EDNN tiles.

    ``pixels`` is the image size, ``spacing`` Angstrom per pixel, ``focus`` and
    ``context`` the EDNN tile parameters (pixels).
    """

    pixels: tuple[int, int]
    spacing: tuple[float, float]
    focus: int
    context: int

    @classmethod
    def for_cell(cls, cell, spacing, focus: int, context: int, rtol: float = 1e-6) -> "TileGrid":
        """The grid of a cell ``(lx, ly)`` at pixel size ``spacing``; the cell must be a whole
        number of focus tiles at that pixel size (EDNN sec. 3.3)."""
        cell = finite_array(cell, "cell", ndim=1)[:2]
        spacing = finite_array(spacing, "spacing", ndim=1)
        pixels = np.rint(cell / spacing).astype(np.int64)
        if np.any(pixels <= 0) or np.any(np.abs(pixels * spacing - cell) > rtol * cell) or np.any(pixels % focus):
            raise ValueError(f"cell {cell.tolist()} A is not a whole number of {focus}-pixel tiles at "
                             f"{spacing.tolist()} A per pixel ({(cell / spacing).tolist()} pixels)")
        return cls(tuple(int(p) for p in pixels), tuple(float(h) for h in cell / pixels), int(focus), int(context))

    @property
    def tiles(self) -> tuple[int, int]:
        return self.pixels[0] // self.focus, self.pixels[1] // self.focus

    @property
    def tile_size(self) -> int:
        return self.focus + 2 * self.context

    def windows(self, window_tiles: int) -> list[tuple[int, int, int, int]]:
        """Tile ranges ``(i0, i1, j0, j1)`` of the windows, row-major, covering every tile once."""
        w = positive_int(window_tiles, "window_tiles")
        nx, ny = self.tiles
        return [(i, min(i + w, nx), j, min(j + w, ny)) for i in range(0, nx, w) for j in range(0, ny, w)]

    def window_bounds(self, window, gamma: float) -> tuple[float, float, float, float]:
        """Rectangle (Angstrom, unwrapped) whose atoms can touch the window's tiles."""
        i0, i1, j0, j1 = window
        r = stencil_radius(gamma)
        f, c = self.focus, self.context
        hx, hy = self.spacing
        return ((i0 * f - c) * hx - r, ((i1 * f + c) - 1) * hx + r, (j0 * f - c) * hy - r, ((j1 * f + c) - 1) * hy + r)


def atoms_near_window(positions, grid: TileGrid, window, gamma: float) -> np.ndarray:
    """Indices of the atoms (any periodic image) that can touch the window's tiles."""
    x0, x1, y0, y1 = grid.window_bounds(window, gamma)
    lx, ly = grid.pixels[0] * grid.spacing[0], grid.pixels[1] * grid.spacing[1]
    inside = np.ones(len(positions), bool)
    for axis, lo, hi, length in ((0, x0, x1, lx), (1, y0, y1, ly)):
        if hi - lo < length:
            inside &= np.mod(positions[:, axis] - lo, length) <= hi - lo
    return np.flatnonzero(inside)


def window_image(positions, numbers, grid: TileGrid, window, gamma: float = 0.2, out=None) -> np.ndarray:
    """Gaussian image of the window's tiles with their context: ``((i1-i0) f + 2c, (j1-j0) f + 2c)``.

    ``positions`` are the atoms that can touch the window, each in one periodic image."""
    i0, i1, j0, j1 = window
    f, c = grid.focus, grid.context
    shape = ((i1 - i0) * f + 2 * c, (j1 - j0) * f + 2 * c)
    return rasterize_window(positions, numbers, grid.spacing, (i0 * f - c, j0 * f - c), shape, gamma=gamma,
                            period=grid.pixels, out=out)


def window_tiles(image: np.ndarray, focus: int, context: int) -> np.ndarray:
    """The ``(n_i * n_j, f + 2c, f + 2c, 1)`` tiles of a window image with context (a strided view)."""
    t = focus + 2 * context
    view = np.lib.stride_tricks.sliding_window_view(image, (t, t))[::focus, ::focus]
    return view.reshape(-1, t, t)[..., None]


@dataclass
class SheetEnergy:
    energy: float                          # eV, summed in float64
    n_atoms: int
    area: float                            # A^2
    tile_energies: np.ndarray | None       # (n_tiles_x, n_tiles_y) eV, if requested
    seconds: dict = field(default_factory=dict)   # rasterise, network, total


class SheetPredictor:
    """EDNN energies of sheets of any size with one tile network, streamed window by window.

    Args:
        tile_network: Keras model ``(T, t, t, 1) -> (T, 1)``.
        focus, context: EDNN tile parameters (pixels).
        spacing: Angstrom per pixel the network was trained at.
        gamma: Gaussian width (Angstrom).
        batch_tiles: tiles per network call (fixed: the last batch is zero-padded).
        window_tiles: tiles per window side.
    """

    def __init__(self, tile_network, focus: int, context: int, spacing, gamma: float = 0.2,
                 batch_tiles: int = 256, window_tiles: int = 16):
        self.tile_network = tile_network
        self.focus, self.context = positive_int(focus, "focus"), int(context)
        self.spacing = tuple(float(h) for h in spacing)
        self.gamma = float(gamma)
        self.batch_tiles = positive_int(batch_tiles, "batch_tiles")
        self.window_tiles = positive_int(window_tiles, "window_tiles")
        self._net = tf.function(lambda x: tile_network(x, training=False), reduce_retracing=True)

    @classmethod
    def from_ednn(cls, model, spacing, gamma: float = 0.2, **kwargs) -> "SheetPredictor":
        return cls(model.tile_network, model.focus, model.context, spacing, gamma, **kwargs)

    def tile_energies(self, tiles: np.ndarray) -> np.ndarray:
        """Network output for each tile, float64, in fixed-size batches."""
        out = np.empty(len(tiles), np.float64)
        b = self.batch_tiles
        buf = np.zeros((b, *tiles.shape[1:]), np.float32)
        for start in range(0, len(tiles), b):
            n = min(b, len(tiles) - start)
            buf[:n] = tiles[start:start + n]
            if n < b:
                buf[n:] = 0.0
            out[start:start + n] = self._net(buf).numpy().reshape(-1)[:n]
        return out

    def energy(self, positions, cell, numbers=6, energy_map: bool = False, progress: bool = False) -> SheetEnergy:
        """Energy (eV) of the periodic sheet with atoms ``positions`` (n, 2 or 3) in cell ``(lx, ly)``."""
        from tqdm.auto import tqdm

        t_total = time.perf_counter()
        pos = finite_array(positions, "positions", ndim=2)[:, :2]
        z = np.broadcast_to(np.asarray(numbers, np.int64), (len(pos),))
        grid = TileGrid.for_cell(cell, self.spacing, self.focus, self.context)
        windows = grid.windows(self.window_tiles)
        tile_map = np.zeros(grid.tiles, np.float64) if energy_map else None
        total, t_raster, t_net = math.fsum([]), 0.0, 0.0
        partial = []
        for w in tqdm(windows, desc="EDNN windows", disable=not progress, unit="window"):
            t0 = time.perf_counter()
            sel = atoms_near_window(pos, grid, w, self.gamma)
            image = window_image(pos[sel], z[sel], grid, w, self.gamma)
            tiles = window_tiles(image, self.focus, self.context)
            t1 = time.perf_counter()
            e = self.tile_energies(tiles)
            t_net += time.perf_counter() - t1
            t_raster += t1 - t0
            partial.append(math.fsum(e))
            if energy_map:
                i0, i1, j0, j1 = w
                tile_map[i0:i1, j0:j1] = e.reshape(i1 - i0, j1 - j0)
        total = math.fsum(partial)
        lx, ly = grid.pixels[0] * grid.spacing[0], grid.pixels[1] * grid.spacing[1]
        return SheetEnergy(total, len(pos), lx * ly, tile_map,
                           {"rasterise": t_raster, "network": t_net, "total": time.perf_counter() - t_total})
