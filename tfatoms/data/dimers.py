"""Lennard-Jones dimers in a 10 A box, the CNNAS paper's model system (sec. 2.2, eq. 2).

Two atoms (``Z1 = Z2 = 1``) are placed in a box of side 10 A: the first
uniformly at random, the second at distance ``r12`` in a uniformly random
direction (2-D: on a circle, 3-D: on a sphere). Dimers whose second atom
falls outside the box are redrawn. The labels are ``r12`` and the
Lennard-Jones energy ``U = 4 eps [(sigma/r)^12 - (sigma/r)^6]`` with
``sigma = 1 A``, ``eps = 1`` (exact).

A dataset is one *selection* (a Table 1 row): separations drawn uniformly in
``r`` on the total range 1-3 A (or, with ``uniform_in="energy"``, uniformly in
``U``), kept if the selected label (``distance`` or ``energy``) lies in one of
the selection's intervals: e.g. ``1 <= r12 <= 2``, ``-1 <= U <= -0.5`` or the
interpolation split ``1-1.67 & 2.33-3 A``.

Duplicates are excluded as in the paper: positions are binned on a 0.01 A grid
and a new dimer is rejected when each of its two atoms lies in the same or a
neighbouring bin as an atom of one earlier dimer.

The images (CNNAS eq. 1, gamma = 0.2 A, non-periodic box, 256 x 256 in 2-D
and 64 x 64 x 64 in 3-D in the paper) are rasterised per batch by
:meth:`Dimers.images`; the HDF5 cache (:func:`dimer_dataset`) holds positions
and labels with the generation parameters. A dataset is a view of one
:class:`~tfatoms.data.atoms.AtomsData` (:meth:`Dimers.to_atoms_data`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import product

import numpy as np

from tfatoms._validation import positive_int
from tfatoms.data.atoms import AtomsData, AtomsDataView, property_view
from tfatoms.data.cache import DatasetCache

BOX = 10.0                      #: side of the box (Angstrom)
SIGMA, EPSILON = 1.0, 1.0       #: Lennard-Jones parameters of eq. 2 (Angstrom, energy unit)
TOTAL_DISTANCE_RANGE = (1.0, 3.0)
DUPLICATE_BIN = 0.01            #: Angstrom, the paper's "minimum dimer overlap distance"
LABELS = ("distance", "energy")
#: The reference of the labels, as stored with every dataset.
REFERENCE = "exact Lennard-Jones energy, sigma = 1 A, eps = 1 (CNNAS eq. 2)"


def lj_energy(r, sigma: float = SIGMA, epsilon: float = EPSILON) -> np.ndarray:
    """Lennard-Jones energy ``4 eps [(sigma/r)^12 - (sigma/r)^6]`` (CNNAS eq. 2)."""
    x = (sigma / np.asarray(r, np.float64)) ** 6
    return 4.0 * epsilon * (x * x - x)


def lj_force_magnitude(r, sigma: float = SIGMA, epsilon: float = EPSILON) -> np.ndarray:
    """``|dU/dr|``."""
    r = np.asarray(r, np.float64)
    x = (sigma / r) ** 6
    return np.abs(4.0 * epsilon * (-12.0 * x * x + 6.0 * x) / r)


@dataclass(frozen=True)
class Selection:
    """Which separations a dataset holds: ``label`` (``"distance"`` or ``"energy"``) within ``intervals``.

    ``intervals``: ``((lo, hi), ...)`` inclusive ranges of the label (A or eps).
    Distances are always drawn within ``distance_range`` (the paper's total
    range 1-3 A), so ``energy`` in ``(-1, 0)`` means every dimer of 1-3 A.
    """

    label: str
    intervals: tuple
    distance_range: tuple = TOTAL_DISTANCE_RANGE

    def __post_init__(self):
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {self.label!r}")
        iv = tuple((float(lo), float(hi)) for lo, hi in self.intervals)
        if not iv or any(not lo < hi for lo, hi in iv):
            raise ValueError(f"intervals must be non-empty (lo, hi) pairs with lo < hi, got {self.intervals}")
        object.__setattr__(self, "intervals", iv)
        lo, hi = (float(v) for v in self.distance_range)
        if not 0 < lo < hi:
            raise ValueError(f"distance_range must be 0 < lo < hi (Angstrom), got {self.distance_range}")
        if hi >= BOX:
            raise ValueError(f"distance_range must stay below the box side {BOX} A, got {self.distance_range}")
        object.__setattr__(self, "distance_range", (lo, hi))

    def label_of(self, r) -> np.ndarray:
        return np.asarray(r, np.float64) if self.label == "distance" else lj_energy(r)

    def contains(self, r) -> np.ndarray:
        """Mask of the separations ``r`` whose label lies in one of the intervals."""
        value = self.label_of(r)
        inside = np.zeros(value.shape, bool)
        for lo, hi in self.intervals:
            inside |= (value >= lo) & (value <= hi)
        return inside

    def describe(self) -> str:
        sym, unit = ("r12", "A") if self.label == "distance" else ("U", "eps")
        return " & ".join(f"{lo:g} <= {sym} <= {hi:g}" for lo, hi in self.intervals) + f" ({unit})"

    def to_dict(self) -> dict:
        return {"label": self.label, "intervals": [list(i) for i in self.intervals],
                "distance_range": list(self.distance_range)}


def sample_separations(n: int, selection: Selection, rng: np.random.Generator,
                       uniform_in: str = "distance") -> np.ndarray:
    """``n`` separations in ``selection``, uniform in ``r`` (the paper's sampling) or in ``U``.

    ``uniform_in="energy"`` accepts a uniform ``r`` with probability ``|U'(r)| / max |U'|``,
    which makes ``U`` uniform on each monotonic branch of the Lennard-Jones curve
    (the paper's "uniform sampling" experiment, sec. 3.1).
    """
    n = positive_int(n, "n")
    if uniform_in not in ("distance", "energy"):
        raise ValueError(f"uniform_in must be 'distance' or 'energy', got {uniform_in!r}")
    lo, hi = selection.distance_range
    grid = np.linspace(lo, hi, 20001)
    allowed = selection.contains(grid)
    accept_rate = float(np.mean(allowed))
    if accept_rate == 0.0:
        raise ValueError(f"no separation in {selection.distance_range} A satisfies {selection.describe()}")
    fmax = float(lj_force_magnitude(grid[allowed]).max())
    out = np.empty(0)
    while len(out) < n:
        r = rng.uniform(lo, hi, size=max(1024, int(1.3 * (n - len(out)) / accept_rate)))
        keep = selection.contains(r)
        if uniform_in == "energy":
            keep &= rng.uniform(0.0, fmax, size=len(r)) < lj_force_magnitude(r)
        out = np.concatenate([out, r[keep]])
    return out[:n]


def _random_directions(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=(n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def place_dimers(r, dim: int, rng: np.random.Generator, box: float = BOX) -> np.ndarray:
    """Positions ``(n, 2, dim)`` of dimers with separations ``r`` inside ``[0, box)^dim``."""
    r = np.asarray(r, np.float64)
    pos = np.empty((len(r), 2, dim))
    todo = np.arange(len(r))
    while len(todo):
        first = rng.uniform(0.0, box, size=(len(todo), dim))
        second = first + r[todo, None] * _random_directions(len(todo), dim, rng)
        ok = np.all((second >= 0.0) & (second < box), axis=1)
        pos[todo[ok], 0], pos[todo[ok], 1] = first[ok], second[ok]
        todo = todo[~ok]
    return pos


class _DuplicateFilter:
    """The paper's duplicate test: a dimer whose two atoms both fall in the same or a neighbouring
    0.01 A bin as the atoms of one earlier dimer is a duplicate."""

    def __init__(self, dim: int, bin_size: float = DUPLICATE_BIN):
        self.bins: dict[tuple, list[int]] = {}
        self.bin_size = bin_size
        self.neighbours = list(product((-1, 0, 1), repeat=dim))
        self.count = 0

    def _near(self, key) -> set:
        found = set()
        for d in self.neighbours:
            found.update(self.bins.get(tuple(k + o for k, o in zip(key, d)), ()))
        return found

    def add(self, atoms: np.ndarray) -> bool:
        """Record the dimer ``atoms (2, dim)`` unless it duplicates an earlier one; True if recorded."""
        keys = [tuple(int(v) for v in np.floor(a / self.bin_size)) for a in atoms]
        if self._near(keys[0]) & self._near(keys[1]):
            return False
        for key in keys:
            self.bins.setdefault(key, []).append(self.count)
        self.count += 1
        return True


class Dimers(AtomsDataView):
    """A dimer dataset: ``positions (n, 2, dim)``, ``r12 (n,)``, ``energy (n,)`` and how they were made.

    A view of one :class:`~tfatoms.data.atoms.AtomsData` (:attr:`atoms_data`): two hydrogen atoms (``Z = 1``) per
    structure, positions in 3-D (``z = 0`` for 2-D dimers), the box as a non-periodic cell (``box`` along x and y,
    and z in 3-D), per-structure properties ``r12`` (A) and ``energy`` (units of the Lennard-Jones ``eps``, so no
    unit is recorded), the generation parameters as ``metadata["params"]``. ``positions``, ``r12`` and ``energy``
    are views of the AtomsData's arrays.
    """

    def __init__(self, positions, r12, energy, params):
        positions = np.asarray(positions, np.float64)
        if positions.ndim != 3 or positions.shape[1] != 2 or positions.shape[2] not in (2, 3):
            raise ValueError(f"dimer positions must have shape (n, 2, 2) or (n, 2, 3), got {positions.shape}")
        n, _, dim = positions.shape
        flat = np.zeros((2 * n, 3))
        flat[:, :dim] = positions.reshape(-1, dim)
        box = float(params.get("box", BOX))
        self.atoms_data = AtomsData(
            np.ones(2 * n, np.int64), flat, np.arange(0, 2 * n + 1, 2),
            cell=np.diag([box, box, box if dim == 3 else 0.0]),
            properties={"r12": r12, "energy": energy}, per_atom=(), units={"r12": "A"},
            metadata={"source": f"{dim}-D Lennard-Jones dimers (tfatoms.data.dimers)", "reference": REFERENCE,
                      "dim": dim, "energy_unit": "eps (Lennard-Jones well depth, CNNAS eq. 2)", "params": params})

    @classmethod
    def from_atoms_data(cls, data: AtomsData) -> "Dimers":
        """A view of ``data`` (two atoms per structure, ``r12`` and ``energy``, ``metadata["dim"]``, ``["params"]``)."""
        self = cls._view(data, ("r12", "energy"), ("dim", "params"))
        if not np.all(data.n_atoms == 2) or data.metadata["dim"] not in (2, 3):
            raise ValueError(f"a Dimers view needs two atoms per structure and metadata['dim'] 2 or 3"
                             f"{data._source_text()}")
        return self

    @property
    def dim(self) -> int:
        return int(self.atoms_data.metadata["dim"])

    @property
    def positions(self) -> np.ndarray:
        """``(n, 2, dim)`` Angstrom (a view of the AtomsData's positions)."""
        return self.atoms_data.positions.reshape(len(self), 2, 3)[:, :, :self.dim]

    r12 = property_view("r12", "Separations ``(n,)``, Angstrom.")
    energy = property_view("energy", "Lennard-Jones energies ``(n,)``, units of eps.")

    @property
    def params(self) -> dict:
        """The generation parameters (:func:`dimer_dataset` stores and compares them)."""
        return self.atoms_data.metadata["params"]

    def __repr__(self) -> str:
        return f"Dimers({len(self)} {self.dim}-D dimers)"

    def target(self, label: str) -> np.ndarray:
        if label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {label!r}")
        return self.r12 if label == "distance" else self.energy

    def subset(self, idx) -> "Dimers":
        """The dimers ``idx`` (integers or a boolean mask), in that order: a view of ``atoms_data.subset(idx)``."""
        return Dimers.from_atoms_data(self.atoms_data.subset(idx))

    def split(self, seed: int = 0, test_fraction: float = 0.3, val_fraction: float = 0.1) -> dict[str, np.ndarray]:
        """The paper's split (sec. 2.2): 70 % train / 30 % test at random; 10 % of train is validation."""
        perm = np.random.default_rng(seed).permutation(len(self))
        n_test = int(round(test_fraction * len(self)))
        rest = perm[n_test:]
        n_val = int(round(val_fraction * len(rest)))
        return {"train": np.sort(rest[n_val:]), "val": np.sort(rest[:n_val]), "test": np.sort(perm[:n_test])}

    def images(self, grid: int, label: str | None = None, batch_size: int = 32, gamma: float = 0.2):
        """Batch source of the Gaussian images (CNNAS eq. 1) on a ``grid^dim`` mesh over the box."""
        from tfatoms.representations.atom_images import AtomImages

        dim = self.dim
        return AtomImages(self.positions.reshape(-1, dim), self.offsets, (self.params["box"],) * dim,
                          (positive_int(grid, "grid"),) * dim, numbers=1,
                          targets=None if label is None else self.target(label), batch_size=batch_size,
                          gamma=gamma, periodic=False)

    def flat_images(self, grid: int, gamma: float = 0.2) -> np.ndarray:
        """All images as one ``(n, grid^dim)`` float32 array (input of the scikit-learn baselines)."""
        src = self.images(grid, batch_size=256, gamma=gamma)
        out = np.empty((len(self), grid ** self.dim), np.float32)
        for sel, images, _, _ in src.batches():
            out[sel] = images[:len(sel)].reshape(len(sel), -1)
        return out


def _generation_params(n, dim, selection: Selection, seed, uniform_in, box) -> dict:
    """What a dataset is a pure function of (stored in the HDF5 cache and compared on load)."""
    return {"n": int(n), "dim": int(dim), "selection": selection.to_dict(), "seed": int(seed),
            "uniform_in": uniform_in, "box": float(box), "sigma": SIGMA, "epsilon": EPSILON,
            "duplicate_bin": DUPLICATE_BIN}


def generate_dimers(n: int, dim: int, selection: Selection, seed: int = 0, uniform_in: str = "distance",
                    box: float = BOX) -> Dimers:
    """``n`` distinct dimers (sec. 2.2) in a ``box``-sided 2-D or 3-D box, separations in ``selection``."""
    n = positive_int(n, "n")
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim}")
    if not np.isfinite(box) or box <= selection.distance_range[1]:
        raise ValueError(f"box ({box} A) must be larger than the largest separation {selection.distance_range[1]} A")
    rng = np.random.default_rng(seed)
    dedup = _DuplicateFilter(dim)
    pos = np.empty((n, 2, dim))
    filled = 0
    while filled < n:
        for atoms in place_dimers(sample_separations(n - filled, selection, rng, uniform_in), dim, rng, box):
            if dedup.add(atoms):
                pos[filled] = atoms
                filled += 1
    r12 = np.linalg.norm(pos[:, 1] - pos[:, 0], axis=1)
    return Dimers(pos, r12, lj_energy(r12), _generation_params(n, dim, selection, seed, uniform_in, box))


def _read_legacy(f, params):
    """The layout an earlier tfatoms wrote (``positions (n, 2, dim)``, ``r12``, ``energy``, ``params`` attribute):
    ``(stored parameters, reader)``, or None for another layout."""
    if "params" not in f.attrs or "positions" not in f or "format" in f.attrs:
        return None
    stored = json.loads(f.attrs["params"])
    return stored, lambda: Dimers(f["positions"][...], f["r12"][...], f["energy"][...], stored)


#: The dimer HDF5 cache: an AtomsData file (:mod:`tfatoms.data.cache`).
CACHE = DatasetCache("dimer", write=lambda data, f: data.atoms_data.write_hdf5_group(f),
                     read=lambda f: Dimers.from_atoms_data(AtomsData.read_hdf5_group(f)), legacy=_read_legacy)


def dimer_dataset(path, n: int, dim: int, selection: Selection, seed: int = 0, uniform_in: str = "distance",
                  box: float = BOX) -> Dimers:
    """Load a dimer dataset from the HDF5 cache at ``path``, generating and writing it on first use.

    The cache (:mod:`tfatoms.data.cache`) stores the generation parameters and checks them: a file made with
    other parameters is a :class:`~tfatoms.data.cache.CacheMismatchError` naming the parameter (delete it or use
    another path), a damaged one a :class:`~tfatoms.data.cache.CacheFileError`; neither is overwritten. The file is
    written under a temporary name and renamed, so an interrupted run leaves no half-written cache; a cache of an
    earlier tfatoms is converted in place.
    """
    want = _generation_params(n, dim, selection, seed, uniform_in, box)
    return CACHE.get(path, want, lambda: generate_dimers(n, dim, selection, seed=seed, uniform_in=uniform_in,
                                                         box=box))
