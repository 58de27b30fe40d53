"""Periodic graphene sheets, pristine and porous, of any size (EDNN paper sec. 3.2.2, 3.3).

Geometry. Graphene (a = 2.46 A, C-C 1.42 A) in its orthogonal 4-atom cell
``a x sqrt(3) a`` (2.46 x 4.261 A), zigzag along x. Sheets are built from
*blocks* of 7 x 4 cells (17.22 x 17.04 A, 112 atoms when pristine). A block is
exactly 192 x 192 pixels of the EDNN image grid (:data:`PIXEL_SPACING`,
0.0897 x 0.0888 A per pixel, about the paper's 35 A / 384 px), three EDNN
tiles of focus 64 along each axis, so every sheet made of whole blocks has an
image whose size is a multiple of the focus, at one fixed pixel size. The
paper's ~35 x 35 A training sheets are 2 x 2 blocks (34.44 x 34.09 A,
384 x 384 pixels, 448 atoms when pristine); its 1 um^2 sheet is 581 x 587
blocks (10,005 x 10,003 A).

Pores. Each block ``(i, j)`` draws its own holes from a generator seeded by
``(seed, i, j)``: a Poisson number of discs (mean ``hole_density`` times the
block area) with centres uniform in the block and radii uniform in
``radius_range``. Atoms inside any disc (periodic minimum image) are removed,
then atoms left with fewer than two of their three lattice neighbours are
removed, twice (no dangling chains). Everything an atom's fate depends on lies
within ``radius_range[1] + 2`` cells of it, so :meth:`PorousSheet.window`
produces just the atoms of one rectangle from the few blocks around it, equal
to the same region of the whole sheet: a process never holds a sheet it does
not work on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from tfatoms._validation import non_negative_int, positive_int

A_LATTICE = 2.46                                   #: graphene lattice constant (Angstrom)
CELL = (A_LATTICE, A_LATTICE * math.sqrt(3.0))     #: orthogonal 4-atom cell (Angstrom)
#: fractional positions of the 4 atoms of the orthogonal cell (zigzag along x)
BASIS_FRAC = np.array([[0.0, 0.0], [0.5, 1.0 / 6.0], [0.5, 0.5], [0.0, 2.0 / 3.0]])
BOND = A_LATTICE / math.sqrt(3.0)                  #: C-C distance, 1.420 A
BLOCK_CELLS = (7, 4)                               #: cells per block along x, y
BLOCK_PIXELS = 192                                 #: image pixels per block along each axis
BLOCK_SIZE = (BLOCK_CELLS[0] * CELL[0], BLOCK_CELLS[1] * CELL[1])   #: 17.22 x 17.04 A
#: Angstrom per pixel along x and y of every sheet image (EDNN sec. 3.3: the pixel size is fixed)
PIXEL_SPACING = (BLOCK_SIZE[0] / BLOCK_PIXELS, BLOCK_SIZE[1] / BLOCK_PIXELS)
VACUUM = 20.0                                      #: cell height (Angstrom) used for the periodic 3-D cell
CARBON = 6

#: default pores: 0.2 holes per nm^2 of radius 2-5 A remove 8 % of the atoms (35.1 M atoms per
#: um^2, measured on a 40 x 40 block sheet), as in the paper's 1 um^2 sheet of 35.2 M atoms
#: (pristine graphene would have 38.2 M)
DEFAULT_HOLE_DENSITY = 0.002                       # holes per A^2
DEFAULT_RADIUS_RANGE = (2.0, 5.0)                  # Angstrom


def graphene_positions(nx: int, ny: int) -> np.ndarray:
    """Atoms of ``nx x ny`` orthogonal cells, (4 nx ny, 3), z = 0, ordered by cell (i, j) then basis."""
    nx, ny = positive_int(nx, "nx"), positive_int(ny, "ny")
    return _lattice(0, nx, 0, ny)


def graphene_sheet(nx: int, ny: int, vacuum: float = VACUUM):
    """Pristine periodic graphene of ``nx x ny`` orthogonal cells as ``ase.Atoms`` (pbc in x and y)."""
    from ase import Atoms

    pos = graphene_positions(nx, ny)
    return Atoms(numbers=np.full(len(pos), CARBON), positions=pos,
                 cell=[nx * CELL[0], ny * CELL[1], vacuum], pbc=(True, True, False))


def _lattice(i0, i1, j0, j1) -> np.ndarray:
    """Lattice atoms of cells ``i0 <= i < i1``, ``j0 <= j < j1`` (any integers), (n, 3)."""
    i, j = np.meshgrid(np.arange(i0, i1), np.arange(j0, j1), indexing="ij")
    frac = np.stack([i.ravel(), j.ravel()], axis=1)[:, None, :] + BASIS_FRAC[None, :, :]
    xy = (frac * np.array(CELL)).reshape(-1, 2)
    return np.column_stack([xy, np.zeros(len(xy))])


def kept_degree(pairs, keep) -> np.ndarray:
    """Number of kept neighbours of every atom: ``pairs`` (n_pairs, 2) lattice bonds, ``keep`` (n_atoms,) bool."""
    alive = keep[pairs[:, 0]] & keep[pairs[:, 1]]
    return np.bincount(pairs[alive].ravel(), minlength=len(keep))


def prune_dangling(pairs, keep, passes: int = 2) -> np.ndarray:
    """``keep`` less the atoms left with fewer than two kept neighbours (``pairs``: the lattice bonds), ``passes``
    times: the paper's pore edges (two passes: no dangling chains of up to two atoms)."""
    keep = keep.copy()
    for _ in range(passes):
        keep &= kept_degree(pairs, keep) >= 2
    return keep


@dataclass(frozen=True)
class PorousSheet:
    """A seeded porous graphene sheet of ``blocks = (bx, by)`` blocks, periodic in x and y.

    Args:
        blocks: blocks along x and y (each 7 x 4 cells, 192 x 192 pixels).
        seed: the sheet's seed; block ``(i, j)`` draws its holes from ``(seed, i, j)``.
        hole_density: mean holes per A^2 (0: pristine).
        radius_range: hole radii are uniform in this range (Angstrom).
    """

    blocks: tuple[int, int]
    seed: int = 0
    hole_density: float = DEFAULT_HOLE_DENSITY
    radius_range: tuple[float, float] = DEFAULT_RADIUS_RANGE

    def __post_init__(self):
        if np.ndim(self.blocks) != 1 or np.size(self.blocks) != 2:
            raise ValueError(f"blocks must be two positive integers (bx, by), got {self.blocks!r}")
        object.__setattr__(self, "blocks", tuple(positive_int(b, "blocks entry") for b in self.blocks))
        object.__setattr__(self, "seed", non_negative_int(self.seed, "seed"))
        density = float(self.hole_density)
        if not math.isfinite(density) or density < 0:
            raise ValueError(f"hole_density must be a finite number >= 0 of holes per A^2, got {self.hole_density!r}")
        object.__setattr__(self, "hole_density", density)
        r = tuple(float(v) for v in self.radius_range)
        if len(r) != 2 or not (0 < r[0] <= r[1] < min(BLOCK_SIZE)):
            raise ValueError(f"radius_range must be (r_min, r_max) with 0 < r_min <= r_max < {min(BLOCK_SIZE):.1f} A, "
                             f"got {self.radius_range!r}")
        object.__setattr__(self, "radius_range", r)

    # ------------------------------------------------------------------ geometry
    @property
    def cells(self) -> tuple[int, int]:
        return self.blocks[0] * BLOCK_CELLS[0], self.blocks[1] * BLOCK_CELLS[1]

    @property
    def size(self) -> tuple[float, float]:
        """Periodic cell lengths (Angstrom)."""
        return self.cells[0] * CELL[0], self.cells[1] * CELL[1]

    @property
    def area(self) -> float:
        return self.size[0] * self.size[1]

    @property
    def pixels(self) -> tuple[int, int]:
        """Image size in pixels at :data:`PIXEL_SPACING`."""
        return self.blocks[0] * BLOCK_PIXELS, self.blocks[1] * BLOCK_PIXELS

    @property
    def n_pristine(self) -> int:
        return 4 * self.cells[0] * self.cells[1]

    def block_holes(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Hole centres (n, 2) and radii (n,) of block ``(i mod bx, j mod by)``, in that block's frame
        shifted by ``(i, j)`` whole blocks (so unwrapped block indices give unwrapped centres)."""
        bx, by = self.blocks
        rng = np.random.default_rng([self.seed, i % bx, j % by])
        n = rng.poisson(self.hole_density * BLOCK_SIZE[0] * BLOCK_SIZE[1])
        centres = (rng.random((n, 2)) + np.array([i, j])) * np.array(BLOCK_SIZE)
        radii = rng.uniform(*self.radius_range, size=n)
        return centres, radii

    # ------------------------------------------------------------------ atoms
    def window(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Positions (n, 3) of the sheet's atoms with ``x0 <= x < x1`` and ``y0 <= y < y1`` (Angstrom).

        The rectangle may extend past the periodic cell (or be negative): atoms
        are returned at their periodic images inside the rectangle, so a window
        plus margin around a tile block is contiguous. Only the blocks within
        reach of the rectangle are generated. The order is deterministic.
        """
        if not all(math.isfinite(v) for v in (x0, x1, y0, y1)) or x1 < x0 or y1 < y0:
            raise ValueError(f"window must be finite with x0 <= x1 and y0 <= y1, got {(x0, x1, y0, y1)}")
        pad = 3 * A_LATTICE                            # two pruning passes reach 2 bonds out
        i0, i1 = math.floor((x0 - pad) / CELL[0]), math.ceil((x1 + pad) / CELL[0])
        j0, j1 = math.floor((y0 - pad) / CELL[1]), math.ceil((y1 + pad) / CELL[1])
        pos = _lattice(i0, i1, j0, j1)
        keep = np.ones(len(pos), bool)
        if self.hole_density > 0:
            reach = self.radius_range[1]
            bi0 = math.floor((i0 * CELL[0] - reach) / BLOCK_SIZE[0])
            bi1 = math.floor((i1 * CELL[0] + reach) / BLOCK_SIZE[0])
            bj0 = math.floor((j0 * CELL[1] - reach) / BLOCK_SIZE[1])
            bj1 = math.floor((j1 * CELL[1] + reach) / BLOCK_SIZE[1])
            centres, radii = zip(*(self.block_holes(i, j) for i in range(bi0, bi1 + 1) for j in range(bj0, bj1 + 1)))
            centres, radii = np.concatenate(centres), np.concatenate(radii)
            if len(radii):
                tree = cKDTree(pos[:, :2])
                for c, r in zip(centres, radii):
                    keep[tree.query_ball_point(c, r)] = False
            # prune atoms with < 2 surviving lattice neighbours, twice
            keep = prune_dangling(cKDTree(pos[:, :2]).query_pairs(BOND * 1.05, output_type="ndarray"), keep)
        inside = (pos[:, 0] >= x0) & (pos[:, 0] < x1) & (pos[:, 1] >= y0) & (pos[:, 1] < y1)
        return pos[keep & inside]

    def window_atoms(self, x0: float, x1: float, y0: float, y1: float) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, numbers)`` of :meth:`window` (all carbon): the sheet protocol of
        :class:`~tfatoms.inference.sheet.SheetPredictor`."""
        pos = self.window(x0, x1, y0, y1)
        return pos, np.full(len(pos), CARBON, np.int64)

    def positions(self) -> np.ndarray:
        """All atoms of the periodic cell, (n, 3), z = 0."""
        lx, ly = self.size
        # shifted below the origin by less than the lattice's smallest x (y) gap: atoms at
        # x = 0 (y = 0) are taken once, their images at x = lx (y = ly) not
        eps_x, eps_y = CELL[0] / 4.0, CELL[1] / 12.0
        return self.window(-eps_x, lx - eps_x, -eps_y, ly - eps_y)

    def content_hash(self) -> str:
        """SHA-256 of everything the sheet's atoms depend on (blocks, seed, pore parameters): a
        checkpoint or cache keyed by it cannot be reused for another sheet."""
        import hashlib

        key = f"PorousSheet|blocks={self.blocks}|seed={self.seed}|hole_density={self.hole_density!r}|" \
              f"radius_range={self.radius_range!r}|cell={CELL!r}|block_cells={BLOCK_CELLS}"
        return hashlib.sha256(key.encode()).hexdigest()

    def atoms(self, vacuum: float = VACUUM):
        """The sheet as ``ase.Atoms`` (carbon, pbc in x and y, positions wrapped into the cell)."""
        from ase import Atoms

        pos = self.positions()
        lx, ly = self.size
        pos[:, 0] %= lx
        pos[:, 1] %= ly
        return Atoms(numbers=np.full(len(pos), CARBON), positions=pos, cell=[lx, ly, vacuum], pbc=(True, True, False))


#: two atoms of an explicit sheet closer than this (Angstrom) are taken as a duplicate (C-C bond: 1.42 A)
DUPLICATE_TOL = 0.1


def duplicate_atoms(positions, size, tol: float = DUPLICATE_TOL) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of atoms closer than ``tol`` (Angstrom, 3-D) in a sheet periodic in x
    and y with cell ``size = (lx, ly)``, sorted.

    The search is scipy's periodic k-d tree (``cKDTree(boxsize=...)``, as for the pores above): it
    takes 1.1 s for 2 M atoms where vesin (:mod:`tfatoms.representations.neighbors`) takes 32 s at
    this short cutoff (and crashes with open z on large flat sheets)."""
    pos = np.asarray(positions, np.float64)
    if len(pos) < 2:
        return np.zeros((0, 2), np.int64)
    box = np.asarray(size[:2], np.float64)
    xy = np.mod(pos[:, :2], box)
    xy = np.where(xy >= box, xy - box, xy)           # np.mod of a tiny negative can round up to the length
    z = pos[:, 2] - pos[:, 2].min() if pos.shape[1] == 3 else np.zeros(len(pos))
    # periodic along z too, with a period longer than the sheet's thickness plus the cutoff: no pair crosses z
    lz = float(z.max()) + 2 * tol + 1.0
    pairs = cKDTree(np.column_stack([xy, z]), boxsize=[box[0], box[1], lz]).query_pairs(tol, output_type="ndarray")
    pairs = np.sort(pairs.astype(np.int64), axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))] if len(pairs) else np.zeros((0, 2), np.int64)


def _periodic_distance(a, b, size) -> float:
    d = np.asarray(a, float) - np.asarray(b, float)
    d[:2] -= np.rint(d[:2] / np.asarray(size)) * np.asarray(size)
    return float(np.linalg.norm(d))


def sheet_from_atoms(atoms, name: str = "atoms") -> "PeriodicSheet":
    """An ``ase.Atoms`` sheet as a :class:`PeriodicSheet`: it must be periodic in x and y with an
    orthogonal, axis-aligned in-plane cell."""
    cell = np.asarray(atoms.cell.array, np.float64)
    if not (atoms.pbc[0] and atoms.pbc[1]) or abs(cell[0, 1]) > 1e-8 or abs(cell[1, 0]) > 1e-8 \
            or np.any(np.abs(cell[:2, 2]) > 1e-8):
        raise ValueError(f"{name}: the sheet must be periodic in x and y with an orthogonal in-plane cell, "
                         f"got pbc {atoms.pbc.tolist()} and cell {cell.tolist()}")
    return PeriodicSheet(atoms.positions, (cell[0, 0], cell[1, 1]), atoms.numbers)


def porosity(n_atoms: int, sheet: PorousSheet) -> float:
    """Fraction of the pristine lattice's atoms that were removed."""
    return 1.0 - n_atoms / sheet.n_pristine


class PeriodicSheet:
    """Explicit atoms of a sheet periodic in x and y, with the window query of :class:`PorousSheet`.

    Atoms are binned once (bins of about ``bin_size`` Angstrom), so a window
    touches only its own bins: streaming a sheet of N atoms in W windows costs
    O(N) rather than O(N W).

    Args:
        positions: ``(n, 2 or 3)`` Angstrom (z ignored by the images); wrapped into the cell.
        size: ``(lx, ly)`` periodic cell lengths (Angstrom).
        numbers: atomic numbers, ``(n,)`` or one int (carbon by default).
        duplicate_tol: two atoms closer than this (Angstrom, periodic, 3-D) are a duplicate and
            raise ``ValueError`` naming their indices (0 or None: no check).
    """

    def __init__(self, positions, size, numbers=CARBON, bin_size: float = 40.0,
                 duplicate_tol: float | None = DUPLICATE_TOL):
        from tfatoms._validation import atomic_numbers_array, finite_array

        if isinstance(positions, (str, bytes)):
            raise TypeError(f"positions must be an (n, 2) or (n, 3) array of Angstrom, got the string {positions!r}")
        try:
            pos = finite_array(positions, "positions", ndim=2)
        except (TypeError, ValueError) as exc:
            if "positions" in str(exc):
                raise
            raise ValueError(f"positions must be an (n, 2) or (n, 3) array of numbers, got "
                             f"{type(positions).__name__} ({exc})") from None
        if pos.shape[1] not in (2, 3):
            raise ValueError(f"positions must have shape (n, 2) or (n, 3), got {pos.shape}")
        self.size = tuple(float(v) for v in finite_array(size, "size", ndim=1)[:2])
        if len(self.size) != 2 or min(self.size) <= 0:
            raise ValueError(f"size must be two positive lengths (lx, ly), got {size!r}")
        xy = np.mod(pos[:, :2], self.size)
        self.positions = np.column_stack([xy, pos[:, 2] if pos.shape[1] == 3 else np.zeros(len(pos))])
        if np.ndim(numbers) == 0:
            numbers = np.full(len(pos), numbers)
        self.numbers = atomic_numbers_array(numbers, len(pos), name="numbers")
        if duplicate_tol and len(pos) > 1:
            pairs = duplicate_atoms(self.positions, self.size, duplicate_tol)
            if len(pairs):
                (i, j), more = pairs[0], len(pairs) - 1
                d = _periodic_distance(self.positions[i], self.positions[j], self.size)
                raise ValueError(f"duplicate atoms: atoms {i} and {j} are {d:.3g} A apart (periodic), closer than "
                                 f"{duplicate_tol} A" + (f"; {more} more such pair(s), e.g. "
                                 f"{', '.join(f'{a}-{b}' for a, b in pairs[1:6])}" if more else ""))
        self.nbins = tuple(max(1, int(s // bin_size)) for s in self.size)
        b = (np.minimum((xy / self.size * self.nbins).astype(np.int64), np.array(self.nbins) - 1))
        key = b[:, 0] * self.nbins[1] + b[:, 1]
        self._order = np.argsort(key, kind="stable")
        self._ptr = np.searchsorted(key[self._order], np.arange(self.nbins[0] * self.nbins[1] + 1))

    def content_hash(self) -> str:
        """SHA-256 of the atoms (wrapped positions, numbers) and the cell: a checkpoint or cache
        keyed by it cannot be reused after the structure changed."""
        import hashlib

        h = hashlib.sha256(b"PeriodicSheet|")
        h.update(np.ascontiguousarray(self.positions, np.float64).tobytes())
        h.update(np.ascontiguousarray(self.numbers, np.int64).tobytes())
        h.update(np.asarray(self.size, np.float64).tobytes())
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.positions)

    def window_atoms(self, x0: float, x1: float, y0: float, y1: float) -> tuple[np.ndarray, np.ndarray]:
        """Atoms (every periodic image) with ``x0 <= x < x1`` and ``y0 <= y < y1``: ``(positions, numbers)``."""
        lx, ly = self.size
        bx, by = lx / self.nbins[0], ly / self.nbins[1]
        pos, num = [], []
        for i in range(math.floor(x0 / bx), math.floor(x1 / bx) + 1):
            for j in range(math.floor(y0 / by), math.floor(y1 / by) + 1):
                key = (i % self.nbins[0]) * self.nbins[1] + (j % self.nbins[1])
                idx = self._order[self._ptr[key]:self._ptr[key + 1]]
                shift = np.array([(i // self.nbins[0]) * lx, (j // self.nbins[1]) * ly, 0.0])
                p = self.positions[idx] + shift
                inside = (p[:, 0] >= x0) & (p[:, 0] < x1) & (p[:, 1] >= y0) & (p[:, 1] < y1)
                pos.append(p[inside])
                num.append(self.numbers[idx][inside])
        if not pos:
            return np.zeros((0, 3)), np.zeros(0, np.int64)
        return np.concatenate(pos), np.concatenate(num)


def read_sheet(path) -> PeriodicSheet:
    """A periodic sheet from extended XYZ (``ase.io.read``; orthogonal in-plane cell) or HDF5
    (datasets ``positions`` (n, 3), ``cell`` (lx, ly[, lz]), optional ``numbers`` (n,)).

    Errors name the file: a missing or wrong-length dataset, and duplicate atoms (two atoms
    closer than :data:`DUPLICATE_TOL`, periodic), which are refused with their indices."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"sheet file {path} does not exist")
    if path.is_dir():
        raise ValueError(f"sheet file {path} is a directory")
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(path, "r") as fh:
                pos, cell = fh["positions"][()], fh["cell"][()]
                numbers = fh["numbers"][()] if "numbers" in fh else CARBON
        except (OSError, KeyError) as exc:
            raise ValueError(f"{path}: expected HDF5 datasets 'positions' and 'cell' ({exc})") from exc
        n = len(pos) if np.ndim(pos) >= 1 else 0
        if np.ndim(numbers) != 0 and (np.ndim(numbers) != 1 or len(numbers) != n):
            raise ValueError(f"{path}: dataset 'numbers' has shape {np.shape(numbers)} but dataset 'positions' "
                             f"has {n} atoms (shape {np.shape(pos)}): one atomic number per atom expected")
        if np.ndim(cell) == 0 or np.size(cell) < 2:
            raise ValueError(f"{path}: dataset 'cell' must hold the lengths (lx, ly[, lz]), got shape {np.shape(cell)}")
        cell = np.asarray(cell, np.float64)
        if cell.shape == (3, 3):
            if np.any(np.abs(cell[:2] - np.diag(np.diag(cell))[:2]) > 1e-8):
                raise ValueError(f"{path}: dataset 'cell' must be orthogonal in the plane, got {cell.tolist()}")
            cell = np.diag(cell)
        try:
            return PeriodicSheet(pos, np.ravel(cell)[:2], numbers)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    import ase.io

    try:
        atoms = ase.io.read(path)
    except Exception as exc:   # ase raises many types for malformed files
        raise ValueError(f"{path}: cannot read as a structure file ({exc})") from exc
    try:
        return sheet_from_atoms(atoms, str(path))
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
