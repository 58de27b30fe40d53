"""Streamed EDNN energy of a periodic sheet of any size (EDNN sec. 3.3, Figs. 9-12).

The sheet's image is never built whole. Its tile grid is cut into windows of
``window_tiles x window_tiles`` tiles; for each window only the atoms within
the window, its context margin and the Gaussian stencil are generated or
looked up (``sheet.window_atoms``, at their periodic images) and rasterised
(:func:`~tfatoms.representations.gaussian_image.rasterize_window`), the window image is cut into its focus + context tiles
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
        """Rectangle ``(x0, x1, y0, y1)`` (Angstrom, unwrapped) holding every atom whose Gaussian
        reaches a pixel of the window's tiles (focus and context)."""
        i0, i1, j0, j1 = window
        r = stencil_radius(gamma)
        f, c = self.focus, self.context
        hx, hy = self.spacing
        return ((i0 * f - c) * hx - r, (i1 * f + c) * hx + r, (j0 * f - c) * hy - r, (j1 * f + c) * hy + r)


def window_image(positions, numbers, grid: TileGrid, window, gamma: float = 0.2, out=None) -> np.ndarray:
    """Gaussian image of the window's tiles with their context: ``((i1-i0) f + 2c, (j1-j0) f + 2c)``.

    ``positions`` are the atoms of :meth:`TileGrid.window_bounds` at their unwrapped
    periodic images (as a sheet's ``window_atoms`` returns them)."""
    i0, i1, j0, j1 = window
    f, c = grid.focus, grid.context
    shape = ((i1 - i0) * f + 2 * c, (j1 - j0) * f + 2 * c)
    return rasterize_window(positions, numbers, grid.spacing, (i0 * f - c, j0 * f - c), shape, gamma=gamma, out=out)


def window_tiles(image: np.ndarray, focus: int, context: int) -> np.ndarray:
    """The ``(n_i * n_j, f + 2c, f + 2c, 1)`` tiles of a window image with context (a strided view)."""
    t = focus + 2 * context
    view = np.lib.stride_tricks.sliding_window_view(image, (t, t))[::focus, ::focus]
    return view.reshape(-1, t, t)[..., None]


@dataclass
class SheetEnergy:
    energy: float                          # eV, summed in float64 (of the windows computed)
    n_atoms: int                           # atoms in the focus areas of those windows
    area: float                            # A^2 of the whole sheet
    n_tiles: int
    tile_energies: np.ndarray | None       # (n_tiles_x, n_tiles_y) eV, if requested (0 outside the windows)
    seconds: dict = field(default_factory=dict)   # generate, rasterise, network, total


def _orthogonal_cell(cell) -> tuple[float, float]:
    """``(lx, ly)`` of a sheet cell given as ``(lx, ly)``, 3 lengths or a 3 x 3 matrix (rows are the
    lattice vectors) whose in-plane vectors lie along x and y (the in-plane part checked by ``cell_array``)."""
    from tfatoms._validation import cell_array, numeric_array

    if isinstance(cell, (str, bytes)):
        raise TypeError(f"cell must be (lx, ly), 3 lengths or a 3 x 3 matrix (Angstrom), got the string {cell!r}")
    arr = numeric_array(cell, "cell")
    if arr.shape == (3,):                                   # lz, the height, plays no part in a sheet
        arr = arr[:2]
    elif arr.shape == (3, 3):
        if np.any(np.abs(arr[:2, 2]) > 1e-8 * max(1.0, np.abs(arr).max())):
            raise ValueError(f"cell must be orthogonal with its in-plane vectors along x and y, got {arr.tolist()}")
        arr = arr[:2, :2]
    elif arr.shape != (2,):
        raise ValueError(f"cell must be (lx, ly), 3 lengths or a 3 x 3 matrix (Angstrom), got shape {arr.shape}")
    plane = cell_array(arr, dim=2, orthogonal=True)
    return float(plane[0, 0]), float(plane[1, 1])


def as_sheet(sheet, cell=None, numbers=None):
    """The sheet protocol of :meth:`SheetPredictor.energy` from what a user has at hand.

    * a sheet object (``size`` and ``window_atoms``: :class:`~tfatoms.data.sheets.PorousSheet`,
      :class:`~tfatoms.data.sheets.PeriodicSheet`), returned as it is;
    * ``ase.Atoms`` periodic in x and y with an orthogonal in-plane cell;
    * positions ``(n, 2 or 3)`` (Angstrom) with ``cell``: ``(lx, ly)``, 3 lengths or an orthogonal
      3 x 3 matrix, and optional ``numbers`` (one per atom, or one for all; default carbon).

    Anything else is a ``TypeError`` naming what was passed.
    """
    from tfatoms.data.sheets import CARBON, PeriodicSheet, sheet_from_atoms

    if hasattr(sheet, "window_atoms") and hasattr(sheet, "size"):
        if cell is not None or numbers is not None:
            raise TypeError(f"{type(sheet).__name__} carries its own cell and atoms: pass cell and numbers only "
                            f"with positions")
        return sheet
    try:
        from ase import Atoms
    except ImportError:                              # ase is a dependency; guard anyway
        Atoms = ()
    if isinstance(sheet, Atoms):
        if cell is not None or numbers is not None:
            raise TypeError("ase.Atoms carries its own cell and atomic numbers: do not pass cell or numbers")
        return sheet_from_atoms(sheet, "ase.Atoms")
    if isinstance(sheet, (str, bytes)) or sheet is None or np.isscalar(sheet) or isinstance(sheet, dict):
        hint = " (to read a sheet file use tfatoms.data.sheets.read_sheet)" if isinstance(sheet, (str, bytes)) else ""
        raise TypeError(f"energy() takes a sheet object (PorousSheet, PeriodicSheet), ase.Atoms, or positions "
                        f"(n, 2 or 3) with a cell; got {type(sheet).__name__} {sheet!r:.80}{hint}")
    if cell is None:
        raise TypeError(f"energy(positions) needs the periodic cell: energy(positions, cell) with cell (lx, ly), "
                        f"3 lengths or a 3 x 3 matrix (got positions of type {type(sheet).__name__}, no cell)")
    return PeriodicSheet(sheet, _orthogonal_cell(cell), CARBON if numbers is None else numbers)


class SheetPredictor:
    """EDNN energies of sheets of any size with one tile network, streamed window by window.

    Args:
        tile_network: Keras model ``(T, t, t, 1) -> (T, 1)``.
        focus, context: EDNN tile parameters (pixels).
        spacing: Angstrom per pixel the network was trained at.
        gamma: Gaussian width (Angstrom).
        batch_tiles: most tiles per network call. A window of ``n`` tiles runs in
            ``ceil(n / batch_tiles)`` calls of at most ``batch_tiles`` tiles each, with no zero
            padding: the network is traced once for any batch size (``None`` batch dimension),
            so small sheets cost their own tiles only.
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
        t = self.focus + 2 * self.context
        # one trace for every batch size: batches sized to the work never retrace
        self._net = tf.function(lambda x: tile_network(x, training=False),
                                input_signature=[tf.TensorSpec((None, t, t, 1), tf.float32)])

    @classmethod
    def from_ednn(cls, model, spacing, gamma: float = 0.2, **kwargs) -> "SheetPredictor":
        return cls(model.tile_network, model.focus, model.context, spacing, gamma, **kwargs)

    def grid(self, sheet, cell=None, numbers=None) -> TileGrid:
        """The tile grid of ``sheet`` (anything :meth:`energy` takes)."""
        sheet = as_sheet(sheet, cell, numbers)
        return TileGrid.for_cell(sheet.size, self.spacing, self.focus, self.context)

    def warm_up(self):
        """Trace the network once (the first call costs about a second) so timings exclude it."""
        t = self.focus + 2 * self.context
        self._net(np.zeros((1, t, t, 1), np.float32))

    def tile_energies(self, tiles: np.ndarray) -> np.ndarray:
        """Network output for each tile, float64, in batches of at most ``batch_tiles`` (no padding)."""
        out = np.empty(len(tiles), np.float64)
        b = self.batch_tiles
        for start in range(0, len(tiles), b):
            batch = np.ascontiguousarray(tiles[start:start + b], np.float32)
            out[start:start + len(batch)] = self._net(batch).numpy().reshape(-1)
        return out

    def energy(self, sheet, cell=None, numbers=None, *, windows=None, energy_map: bool = False,
               progress: bool = False, out_map: np.ndarray | None = None, allow_empty: bool = False) -> SheetEnergy:
        """Energy (eV) of a periodic sheet, or of the tiles of ``windows`` (default: all).

        ``sheet`` is any of (see :func:`as_sheet`):

        * a sheet object with ``size`` ``(lx, ly)`` and ``window_atoms(x0, x1, y0, y1) ->
          (positions, numbers)`` (unwrapped periodic images inside the rectangle):
          :class:`~tfatoms.data.sheets.PorousSheet` generates them,
          :class:`~tfatoms.data.sheets.PeriodicSheet` holds explicit atoms;
        * ``ase.Atoms`` periodic in x and y (orthogonal in-plane cell);
        * positions ``(n, 2 or 3)`` with ``cell`` (``(lx, ly)``, 3 lengths or an orthogonal 3 x 3
          matrix) and optional ``numbers`` (default carbon): ``energy(sheet.positions(), sheet.size)``.

        A sheet with no atoms raises ``ValueError`` (almost surely a mistake) unless
        ``allow_empty``: then the result is the model's energy of vacuum (every tile empty).
        With ``energy_map`` the per-tile energies are returned on the tile grid (zeros
        outside ``windows``); ``out_map`` (a float64 array of that shape) receives them
        in place instead of a new array, for callers that stream many window lists.
        """
        from tqdm.auto import tqdm

        t_total = time.perf_counter()
        sheet = as_sheet(sheet, cell, numbers)
        if not allow_empty and hasattr(sheet, "__len__") and len(sheet) == 0:
            raise ValueError(_EMPTY)
        grid = self.grid(sheet)
        whole = windows is None
        windows = grid.windows(self.window_tiles) if whole else list(windows)
        tile_map = out_map if out_map is not None else np.zeros(grid.tiles, np.float64) if energy_map else None
        if out_map is not None and out_map.shape != grid.tiles:
            raise ValueError(f"out_map must have the tile grid's shape {grid.tiles}, got {out_map.shape}")
        partial, n_atoms, n_tiles = [], 0, 0
        seconds = {"generate": 0.0, "rasterise": 0.0, "network": 0.0}
        f, (hx, hy) = self.focus, grid.spacing
        bar = tqdm(windows, desc="EDNN windows", disable=not progress, unit="window")
        for w in bar:
            i0, i1, j0, j1 = w
            t0 = time.perf_counter()
            pos, nums = sheet.window_atoms(*grid.window_bounds(w, self.gamma))
            t1 = time.perf_counter()
            tiles = window_tiles(window_image(pos, nums, grid, w, self.gamma), self.focus, self.context)
            t2 = time.perf_counter()
            e = self.tile_energies(tiles)
            seconds["generate"] += t1 - t0
            seconds["rasterise"] += t2 - t1
            seconds["network"] += time.perf_counter() - t2
            partial.append(math.fsum(e))
            n_tiles += len(e)
            n_atoms += int(np.count_nonzero((pos[:, 0] >= i0 * f * hx) & (pos[:, 0] < i1 * f * hx)
                                            & (pos[:, 1] >= j0 * f * hy) & (pos[:, 1] < j1 * f * hy)))
            if tile_map is not None:
                tile_map[i0:i1, j0:j1] = e.reshape(i1 - i0, j1 - j0)
            if progress:
                bar.set_postfix(atoms_per_s=f"{n_atoms / (time.perf_counter() - t_total):.0f}", refresh=False)
        if whole and n_atoms == 0 and not allow_empty:      # a generated sheet whose atoms were all removed
            raise ValueError(_EMPTY)
        seconds["total"] = time.perf_counter() - t_total
        lx, ly = grid.pixels[0] * hx, grid.pixels[1] * hy
        return SheetEnergy(math.fsum(partial), n_atoms, lx * ly, n_tiles, tile_map, seconds)


_EMPTY = ("sheet has no atoms: its energy would be the model's energy of vacuum; pass allow_empty=True "
          "if that is what you want")
