"""The one structures-to-batch path: fixed-shape padded batches for training, unpadded ones for inference.

A batch of ``B`` structures is concatenated (atoms of all structures one after
the other, global pair indices, :mod:`tfatoms.keys`) and then padded:

* atoms to ``A`` = the next multiple of ``atom_bucket`` above the real count
  (at least one padding atom always exists);
* pairs to ``P`` = the next multiple of ``pair_bucket`` (at least the real count);
* structures to ``B + 1``: slot ``B`` is a dummy structure owning every padding
  atom; structures missing from a short last batch have 0 atoms.

Every batch carries ``CELL`` (B + 1, 3, 3), ``PBC`` (B + 1, 3) and per-pair integer
``CELL_SHIFTS`` (P, 3); the model computes the Cartesian offsets as ``S @ cell``
(:func:`tfatoms.models.geometry.pair_offsets`), so stress and variable-cell runs are
exact. Padding atoms have ``Z = 0`` and sit at the origin; padding pairs join the first
padding atom to itself with the shift (1, 0, 0) in the dummy structure's unit cell, so
their distance is 1 A (no zero norm, no NaN gradient) and their messages only ever reach
the dummy structure. ``weights`` (B + 1,) is 1 for real structures and 0 otherwise:
losses and metrics must use it. With ``B = 32`` QM9 batches (about 580 atoms,
10,600 pairs) ``atom_bucket=64``, ``pair_bucket=1024`` give fewer than 20
distinct shapes, and 5-10 % padding.

Neighbour pairs are precomputed once per structure: all ordered pairs ``i != j``
(``cutoff=None``, the thesis' QM9 setting; molecules only) or, with a cutoff, those
:func:`~tfatoms.representations.neighbors.neighbor_list` finds, every periodic image a
separate pair. :func:`tfatoms.representations.build_batch` is :meth:`StructureBatches.collate`
with ``pad=False`` (no padding, no dummy structure).

With per-atom ``forces`` (energy+force training, thesis eq. 5.7) or per-structure
``stress``, a batch's targets and weights are dicts keyed by :mod:`tfatoms.keys`
(see :mod:`tfatoms.train.losses`): ``targets = {ENERGY: (B + 1,), FORCES: (A, 3),
STRESS: (B + 1, 3, 3)}`` (zeros on padding) and ``weights = {ENERGY: (B + 1,), FORCES: (A,)}``,
the second being the atom mask (1 for real atoms, 0 for padding). Without either they stay
plain arrays, as before.
"""
from __future__ import annotations

import numpy as np

from tfatoms import keys
from tfatoms._validation import (atomic_numbers_array, element_numbers, finite_array, first_unknown_element,
                                 float_dtype, numeric_array, positive_int, positions_array)
from tfatoms.representations.batch import MAX_COORDINATE, check_overlaps, prepare_positions
from tfatoms.representations.batch_source import BatchSource
from tfatoms.representations.neighbors import neighbor_list, pairs_cutoff

#: Integer cell shift of the padding pairs in the dummy structure's unit cell: their length is 1 A.
PAD_SHIFT = (1, 0, 0)


def reverse_pairs(pair_i, pair_j, shifts, starts) -> np.ndarray:
    """For each pair ``k`` = (i, j, S) of structure ``m`` (local atom indices, pairs of structure ``m`` at
    ``starts[m]:starts[m+1]``), the index of its reverse (j, i, -S) in the same structure, or -1 if there is none.

    Sort-based on one int64 key per pair (a structured-row sort where the key would overflow)."""
    pair_i, pair_j = np.asarray(pair_i, np.int64), np.asarray(pair_j, np.int64)
    shifts = np.asarray(shifts, np.int64).reshape(-1, 3)
    n_pairs = np.diff(np.asarray(starts))
    if not len(pair_i):
        return np.zeros(0, np.int64)
    m = np.repeat(np.arange(len(n_pairs), dtype=np.int64), n_pairs)
    span = int(max(pair_i.max(), pair_j.max())) + 1
    s_abs = int(np.abs(shifts).max())
    s_span = 2 * s_abs + 1
    if len(n_pairs) * span * span * s_span ** 3 < 2 ** 62:
        def key(a, b, s):
            k = (m * span + a) * span + b
            for c in range(3):
                k = k * s_span + (s[:, c] + s_abs)
            return k
    else:
        void = np.dtype((np.void, 6 * 8))

        def key(a, b, s):
            return np.ascontiguousarray(np.column_stack([m, a, b, s])).view(void).ravel()
    fwd, rev = key(pair_i, pair_j, shifts), key(pair_j, pair_i, -shifts)
    order = np.argsort(fwd, kind="stable")
    ordered = fwd[order]
    pos = np.minimum(np.searchsorted(ordered, rev), len(ordered) - 1)
    return np.where(ordered[pos] == rev, order[pos], -1)


#: Pairs per chunk when the canonical pairs of a dataset are computed (whole structures; about 100 MB of keys).
CANONICAL_CHUNK_PAIRS = 2_000_000


def couples(canonical) -> tuple[np.ndarray, np.ndarray]:
    """``(half, inverse)`` of a batch's pairs from ``canonical`` (n_pairs,), the batch index of the pair whose
    filter each pair shares (itself or its earlier mirror image): ``half`` lists the pairs that are their own
    canonical (the ``PAIR_HALF`` of :mod:`tfatoms.keys`), ``inverse[k]`` is pair ``k``'s entry in it
    (``PAIR_INVERSE``)."""
    canonical = np.asarray(canonical, np.int64)
    half = np.flatnonzero(canonical == np.arange(len(canonical)))
    return half, np.searchsorted(half, canonical)


def canonical_pairs(reverse) -> np.ndarray:
    """Each pair's canonical pair: the first of it and its reverse (:func:`reverse_pairs`), itself without one."""
    own = np.arange(len(reverse))
    return np.where(np.asarray(reverse) >= 0, np.minimum(own, reverse), own)


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


class StructureBatches(BatchSource):
    """Structures (flat arrays + a pointer array) with precomputed pairs, collated into padded fixed-shape batches.

    Args:
        numbers: ``(n_atoms_total,)`` atomic numbers of all structures, concatenated.
        positions: ``(n_atoms_total, 3)`` Angstrom.
        offsets: ``(n_structures + 1,)`` pointer array; structure ``m`` is atoms ``offsets[m]:offsets[m+1]``.
        targets: ``(n_structures,)`` or ``None``.
        batch_size: structures per batch (32 in the thesis).
        cutoff: neighbour cutoff, Angstrom; ``None`` for all pairs (molecules only).
        atom_bucket, pair_bucket: padding granularity.
        dtype: float type of positions, cell and targets (float32 or float64).
        max_z: if given, the largest atomic number the model embeds (``model.max_z``);
            larger ones raise here instead of inside TensorFlow.
        forces: ``None``, or per-atom forces in eV/A ragged like ``positions``: an
            ``(n_atoms_total, 3)`` array, or one ``(n_atoms_m, 3)`` array (or ``None``)
            per structure. Every structure needs finite forces: a missing one (``None`` or
            NaN rows) raises a ``ValueError`` naming the structure.
        names: optional name of each structure (e.g. ``"train.xyz frame 17"``) used in errors.
        cell: ``None`` (no cell: molecules), one ``(3, 3)`` for all, or ``(n_structures, 3, 3)``;
            rows are lattice vectors, Angstrom.
        pbc: ``None`` (False), a bool or ``(3,)`` for all, or ``(n_structures, 3)``.
        stress: ``None``, or ``(n_structures, 3, 3)`` / Voigt ``(n_structures, 6)`` (ASE order
            xx, yy, zz, yz, xz, xy) in eV/A^3; only for structures periodic along all three axes.
        model: the model the batches are for: its cutoff (``model.cutoff``) is used, so the pairs
            cannot disagree with it (a different ``cutoff`` raises; for a model without one,
            ``cutoff`` truncates its pairs), its ``max_z`` unless ``max_z`` is given, and its ``elements``
            (when it records them: a shipped model does) are the only ones accepted.

    Molecules are centred on their centroid and periodic structures wrapped into their cell
    in float64 (:func:`~tfatoms.representations.batch.prepare_positions`) before the positions
    are cast to ``dtype``: energies and forces are invariant under both, so this is exact, and
    a structure far from the origin keeps its precision; ``positions`` holds those coordinates.

    Raises ``ValueError`` naming the structure for inconsistent arrays, empty structures,
    non-numeric or non-finite positions, atomic numbers that are not integers in
    1..118 (0 is the padding element), coordinates too large to represent, non-finite
    targets, forces missing (``None``) or not finite, a periodic structure without a cutoff
    or with a degenerate cell, stress for a structure that is not periodic along all three
    axes, or two atoms closer than 1e-6 A (in ``dtype``).
    """

    #: how errors name a record: ``structure 3`` (``molecule 3`` in :class:`MoleculeBatches`).
    kind = "structure"

    def __init__(self, numbers, positions, offsets, targets=None, batch_size: int = 32,
                 cutoff: float | None = None, atom_bucket: int = 64, pair_bucket: int = 1024,
                 dtype=np.float32, max_z: int | None = None, forces=None, names=None, cell=None, pbc=None,
                 stress=None, model=None):
        self.dtype = float_dtype(dtype)
        numbers = np.asarray(numbers)
        positions = positions_array(numeric_array(positions, "positions"), "positions", allow_empty=True)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        if self.offsets.ndim != 1 or len(self.offsets) < 2 or self.offsets[0] != 0:
            raise ValueError(f"offsets must be 1-D, start at 0 and hold n_{self.kind}s + 1 entries")
        if numbers.ndim != 1 or self.offsets[-1] != len(numbers) or positions.shape != (len(numbers), 3):
            raise ValueError(f"offsets end at {self.offsets[-1]} but there are {len(numbers)} atomic numbers "
                             f"and positions of shape {positions.shape}")
        n_atoms = np.diff(self.offsets)
        if np.any(n_atoms < 1):
            raise ValueError(f"{self.kind} {int(np.argmax(n_atoms < 1))} has no atoms")
        self.n_atoms = n_atoms
        self.names = None
        if names is not None:
            self.names = [str(name) for name in names]
            if len(self.names) != len(n_atoms):
                raise ValueError(f"names has {len(self.names)} entries for {len(n_atoms)} {self.kind}s")
        self.cell, self.pbc = self._checked_cells(cell, pbc)
        self.cutoff = pairs_cutoff(model, cutoff, f"{type(model).__name__} model")
        if model is not None and max_z is None:
            max_z = getattr(model, "max_z", None)
        elements = None if model is None else getattr(model, "elements", None)
        if self.cutoff is None and self.pbc.any():
            m = int(np.argmax(self.pbc.any(axis=1)))
            raise ValueError(f"{self.record(m)} is periodic (pbc={self.pbc[m].tolist()}): give a cutoff "
                             f"(all pairs of a periodic structure are infinitely many)")
        for m in np.flatnonzero(self.pbc.any(axis=1)):
            periodic = self.pbc[m]
            if np.linalg.matrix_rank(self.cell[m][periodic], tol=1e-9) < periodic.sum():
                raise ValueError(f"{self.record(m)}: cell vectors along the periodic axes {periodic.tolist()} are "
                                 f"zero or linearly dependent: {self.cell[m].tolist()}")
        self.numbers = self._checked_numbers(numbers, max_z)
        if elements is not None:
            self._check_elements(elements, f"{type(model).__name__} model")
        self.positions = self._prepared(positions)
        self.targets = None
        if targets is not None:
            targets = numeric_array(targets, "targets")
            if targets.shape != (len(n_atoms),):
                raise ValueError(f"targets must have shape ({len(n_atoms)},), got {targets.shape}")
            self.targets = finite_array(targets, "targets")
        self.forces = None if forces is None else self._checked_forces(forces)
        self.stress = None if stress is None else self._checked_stress(stress)
        self.batch_size = positive_int(batch_size, "batch_size")
        self.atom_bucket = positive_int(atom_bucket, "atom_bucket")
        self.pair_bucket = positive_int(pair_bucket, "pair_bucket")
        self._pair_i, self._pair_j, self._pair_shifts, self._pair_starts = self._all_pairs()

    # ------------------------------------------------------------------------------------------ builders
    @classmethod
    def from_atoms(cls, structures, targets=None, **kwargs) -> "StructureBatches":
        """From ``ase.Atoms`` (one or a list): numbers, positions, cell and pbc of each; ``kwargs`` as ``__init__``."""
        if hasattr(structures, "get_positions"):
            structures = [structures]
        structures = list(structures)
        if not structures:
            raise ValueError("structures is empty: nothing to batch")
        numbers, positions, cells, pbcs = [], [], [], []
        for s, atoms in enumerate(structures):
            try:
                raw, z = atoms.get_positions(), atoms.get_atomic_numbers()
                cell, pbc = atoms.get_cell()[:], atoms.get_pbc()
            except AttributeError:
                raise ValueError(f"{cls.kind} {s} is not an ase.Atoms object: {type(atoms).__name__}") from None
            name = f"positions of {cls.kind} {s}"
            pos = positions_array(numeric_array(raw, name), name=name)
            numbers.append(atomic_numbers_array(z, n_atoms=len(pos), name=f"atomic numbers of {cls.kind} {s}"))
            positions.append(pos)
            cells.append(numeric_array(cell, f"cell of {cls.kind} {s}"))
            pbcs.append(np.asarray(pbc, dtype=bool))
        ptr = np.concatenate([[0], np.cumsum([len(p) for p in positions])])
        return cls(np.concatenate(numbers), np.concatenate(positions), ptr, targets,
                   cell=np.stack(cells), pbc=np.stack(pbcs), **kwargs)

    @classmethod
    def from_atoms_data(cls, data, energy: str | None = "energy", forces: str | None = None,
                        stress: str | None = None, **kwargs) -> "StructureBatches":
        """From a :class:`tfatoms.data.atoms.AtomsData`: its structures, cells and pbc, the named properties
        as targets (converted to eV, eV/A and eV/A^3 where the set records units), its record names in errors.

        ``energy``, ``forces``, ``stress``: property names (``None``: not used). A structure lacking a
        used property raises ``ValueError`` naming it (``AtomsData.require``).
        """
        wanted = {name: unit for name, unit in ((energy, "eV"), (forces, "eV/A"), (stress, "eV/A^3"))
                  if name is not None}
        data.require(*wanted)
        convert = {name: unit for name, unit in wanted.items() if name in data.units}
        if convert:
            data = data.to_units(convert)
        kwargs.setdefault("names", [data._where(k) for k in range(len(data))])
        props = data.properties
        return cls(data.numbers, data.positions, data.ptr, None if energy is None else props[energy],
                   cell=data.cell, pbc=data.pbc, forces=None if forces is None else props[forces],
                   stress=None if stress is None else props[stress], **kwargs)

    # ---------------------------------------------------------------------------------------- validation
    def record(self, m: int) -> str:
        """How errors name structure ``m``: ``structure 3`` or ``structure 3 ('train.xyz frame 17')``."""
        if self.names is None:
            return f"{self.kind} {m}"
        name = self.names[m]
        if name.startswith(("structure ", "molecule ")):    # already says which record (AtomsData names)
            return name
        return f"{self.kind} {m} ({name!r})"

    def _checked_cells(self, cell, pbc):
        """``(n, 3, 3)`` float64 cells and ``(n, 3)`` bool pbc, broadcast from one for all."""
        n = len(self.n_atoms)
        cells = np.zeros((n, 3, 3)) if cell is None else finite_array(numeric_array(cell, "cell"), "cell")
        if cells.shape == (3, 3):
            cells = np.broadcast_to(cells, (n, 3, 3))
        if cells.shape != (n, 3, 3):
            raise ValueError(f"cell must be one (3, 3) matrix or one per {self.kind} ({n}, 3, 3), "
                             f"got shape {cells.shape}")
        flags = np.zeros((n, 3), bool) if pbc is None else np.asarray(pbc)
        if flags.dtype != bool:
            raise ValueError(f"pbc must be booleans, got {flags.dtype}")
        if flags.shape in ((), (3,)):
            flags = np.broadcast_to(flags, (n, 3))
        if flags.shape != (n, 3):
            raise ValueError(f"pbc must be one bool, 3 bools or ({n}, 3), got shape {flags.shape}")
        return np.array(cells, np.float64), np.array(flags, bool)

    def _checked_forces(self, forces) -> np.ndarray:
        """Forces as one ``(n_atoms_total, 3)`` float64 array; an error naming the first structure without them."""
        n_total = int(self.offsets[-1])
        hint = ("every structure of a force-trained set needs forces: remove it from the set or label it "
                "with the reference method")
        if isinstance(forces, (list, tuple)):
            if len(forces) != len(self.n_atoms):
                raise ValueError(f"forces has {len(forces)} entries for {len(self.n_atoms)} {self.kind}s")
            rows = []
            for m, f in enumerate(forces):
                if f is None:
                    raise ValueError(f"{self.record(m)} has no forces; {hint}")
                f = numeric_array(f, f"forces of {self.record(m)}")
                if f.shape != (self.n_atoms[m], 3):
                    raise ValueError(f"forces of {self.record(m)} must have shape ({self.n_atoms[m]}, 3), "
                                     f"got {f.shape}")
                rows.append(f)
            forces = np.concatenate(rows) if rows else np.zeros((0, 3))
        else:
            forces = numeric_array(forces, "forces")
            if forces.shape != (n_total, 3):
                raise ValueError(f"forces must have shape ({n_total}, 3) like positions (or be one (n_atoms, 3) "
                                 f"array per {self.kind}), got {forces.shape}")
        self.check_forces(forces, hint)
        return forces

    def _checked_stress(self, stress) -> np.ndarray:
        """Stress as ``(n, 3, 3)`` float64; an error naming a structure that is not 3-D periodic or has NaN."""
        from ase.stress import voigt_6_to_full_3x3_stress

        n = len(self.n_atoms)
        stress = numeric_array(stress, "stress")
        if stress.shape == (n, 6):
            stress = voigt_6_to_full_3x3_stress(stress)
        if stress.shape != (n, 3, 3):
            raise ValueError(f"stress must have shape ({n}, 3, 3) or Voigt ({n}, 6), got {stress.shape}")
        flat = ~self.pbc.all(axis=1)
        if flat.any():
            m = int(np.argmax(flat))
            raise ValueError(f"{self.record(m)} has stress but pbc={self.pbc[m].tolist()}: stress needs a cell "
                             f"periodic along all three axes; train stress on bulk cells only, or drop stress")
        bad = ~np.isfinite(stress).reshape(n, 9).all(axis=1)
        if bad.any():
            m = int(np.argmax(bad))
            raise ValueError(f"{self.record(m)} has no stress ({stress[m].tolist()}); every structure of a "
                             f"stress-trained set needs a finite stress")
        return stress

    def check_forces(self, forces=None, hint: str = "remove or fix those records before training"):
        """Raise ``ValueError`` naming the first structure whose forces are NaN or infinite (missing)."""
        forces = self.forces if forces is None else forces
        bad = ~np.all(np.isfinite(forces), axis=1)
        if bad.any():
            k = int(np.argmax(bad))
            m = self._structure_of_atom(k)
            n_bad = len(np.unique(np.searchsorted(self.offsets, np.flatnonzero(bad), side="right") - 1))
            raise ValueError(f"{self.record(m)} has no forces (atom {k - self.offsets[m]}: "
                             f"{forces[k].tolist()}; {n_bad} of {len(self)} {self.kind}s without forces); {hint}")

    def atom_indices(self, structures) -> np.ndarray:
        """Indices into the flat per-atom arrays of the atoms of ``structures``, in batch order."""
        return np.concatenate([np.arange(self.offsets[m], self.offsets[m + 1]) for m in structures])

    def _structure_of_atom(self, k: int) -> int:
        return int(np.searchsorted(self.offsets, k, side="right") - 1)

    def _checked_numbers(self, numbers, max_z) -> np.ndarray:
        """Atomic numbers in 1..118 (0 is padding), an error naming the structure otherwise."""
        try:
            z = atomic_numbers_array(numbers, name="atomic numbers")
        except ValueError:
            for m in range(len(self.n_atoms)):  # find the structure, and raise with its name
                atomic_numbers_array(numbers[self.offsets[m]:self.offsets[m + 1]],
                                     name=f"atomic numbers of {self.kind} {m}")
            raise
        if max_z is not None and len(z) and z.max() > max_z:
            k = int(np.argmax(z > max_z))
            from ase.data import chemical_symbols

            m = self._structure_of_atom(k)
            raise ValueError(f"{self.kind} {m}, atom {k - self.offsets[m]}: element {chemical_symbols[z[k]]} "
                             f"(Z = {z[k]}) is beyond the model's max_z = {max_z}")
        return z.astype(np.int32)

    def _check_elements(self, elements, what: str):
        """Every atomic number among ``elements`` (symbols or numbers): the model was trained on those only."""
        from ase.data import chemical_symbols

        k = first_unknown_element(self.numbers, elements)
        if k is not None:
            m = self._structure_of_atom(k)
            z = int(self.numbers[k])
            raise ValueError(f"{self.record(m)}, atom {k - self.offsets[m]}: element {chemical_symbols[z]} (Z = {z}) "
                             f"is not among the elements the {what} was trained on: "
                             f"{', '.join(chemical_symbols[e] for e in element_numbers(elements))}")

    def _prepared(self, positions) -> np.ndarray:
        """float64 positions: molecules centred on their centroid, periodic structures wrapped into their cell."""
        molecule = np.repeat(np.arange(len(self.n_atoms)), self.n_atoms)
        centroid = np.stack([np.bincount(molecule, weights=positions[:, a], minlength=len(self.n_atoms))
                             for a in range(3)], axis=1) / self.n_atoms[:, None]
        prepared = positions - centroid[molecule]
        for m in np.flatnonzero(self.pbc.any(axis=1)):
            atoms = slice(self.offsets[m], self.offsets[m + 1])
            prepared[atoms] = prepare_positions(positions[atoms], self.cell[m], self.pbc[m], name=self.record(m))
        far = np.abs(prepared).max(axis=1) > MAX_COORDINATE
        if far.any():
            k = int(np.argmax(far))
            m = self._structure_of_atom(k)
            raise ValueError(f"{self.kind} {m}: atom {k - self.offsets[m]} lies {np.abs(prepared[k]).max():.3g} A "
                             f"from the {self.kind}'s centre; coordinates beyond {MAX_COORDINATE:g} A cannot be "
                             f"represented accurately")
        return prepared

    def __len__(self) -> int:
        """Number of structures."""
        return len(self.n_atoms)

    def _all_pairs(self):
        """Local pair indices and integer cell shifts of every structure, concatenated, and where each one's start."""
        pair_i, pair_j, shifts, counts = [], [], [], np.zeros(len(self), np.int64)
        grids = {}
        for m in range(len(self)):
            n = int(self.n_atoms[m])
            pos = self.positions[self.offsets[m]:self.offsets[m + 1]]
            if self.cutoff is None:
                if n not in grids:
                    grids[n] = np.nonzero(~np.eye(n, dtype=bool))
                i, j = grids[n]
                s = np.zeros((len(i), 3), np.int32)
            else:
                try:
                    i, j, s = neighbor_list(pos, self.cell[m], self.pbc[m], self.cutoff)
                except ValueError as err:
                    raise ValueError(f"{self.record(m)}: {err}") from None
            offsets = s.astype(self.dtype) @ self.cell[m].astype(self.dtype) if s.any() else None
            check_overlaps(self.record(m), pos.astype(self.dtype), i, j, offsets)
            pair_i.append(i.astype(np.int32))
            pair_j.append(j.astype(np.int32))
            shifts.append(s.astype(np.int32))
            counts[m] = len(i)
        starts = np.concatenate([[0], np.cumsum(counts)])
        return (np.concatenate(pair_i), np.concatenate(pair_j), np.concatenate(shifts).reshape(-1, 3),
                starts)

    def n_pairs(self) -> np.ndarray:
        """Pairs per structure."""
        return np.diff(self._pair_starts)

    def _canonical_pairs(self) -> np.ndarray:
        """Global index of the pair whose filter each pair shares: the first of (i, j, S) and its reverse
        (j, i, -S); the pair itself if it has no reverse. Computed once, at the first batch."""
        if getattr(self, "_canonical", None) is None:
            starts, canonical = self._pair_starts, np.empty(len(self._pair_i), np.int64)
            m = 0
            while m < len(self):          # chunks of whole structures (bounded memory for large datasets)
                end = max(m + 1, int(np.searchsorted(starts, starts[m] + CANONICAL_CHUNK_PAIRS, side="right")) - 1)
                end = min(end, len(self))
                p0, p1 = starts[m], starts[end]
                canonical[p0:p1] = p0 + canonical_pairs(reverse_pairs(
                    self._pair_i[p0:p1], self._pair_j[p0:p1], self._pair_shifts[p0:p1], starts[m:end + 1] - p0))
                m = end
            self._canonical = canonical
        return self._canonical

    # ------------------------------------------------------------------------------------------- collate
    def collate(self, structures, pad: bool = True):
        """Batch of the given structure indices (at most ``batch_size`` when padded).

        ``pad=True`` returns ``(batch, targets, weights)``: the padded atomistic batch dict,
        targets ``(B + 1,)`` (zeros without targets) and weights ``(B + 1,)``; with forces
        or stress, ``targets = {ENERGY: (B + 1,), FORCES: (A, 3), STRESS: (B + 1, 3, 3)}`` and
        ``weights = {ENERGY: (B + 1,), FORCES: (A,)}`` (the atom mask).
        ``pad=False`` returns the batch dict alone: just the given structures, any number of them,
        no padding atoms, pairs or dummy structure (what :func:`~tfatoms.representations.build_batch` gives).
        """
        structures = np.asarray(structures, dtype=np.int64)
        b = self.batch_size if pad else len(structures)
        if structures.ndim != 1 or not 0 < len(structures) <= b:
            raise ValueError(f"a batch holds 1 to {b} {self.kind}s, got {structures.shape}")
        counts = self.n_atoms[structures]
        pair_counts = self.n_pairs()[structures]
        n_real, p_real = int(counts.sum()), int(pair_counts.sum())
        n_cap = _round_up(n_real + 1, self.atom_bucket) if pad else n_real
        p_cap = max(_round_up(p_real, self.pair_bucket), self.pair_bucket) if pad else p_real
        n_slots = b + 1 if pad else b

        atom_idx = self.atom_indices(structures)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        numbers = np.zeros(n_cap, np.int32)
        numbers[:n_real] = self.numbers[atom_idx]
        positions = np.zeros((n_cap, 3), self.dtype)
        positions[:n_real] = self.positions[atom_idx]
        structure = np.full(n_cap, b, np.int32)
        structure[:n_real] = np.repeat(np.arange(len(structures), dtype=np.int32), counts)
        n_atoms = np.zeros(n_slots, np.int32)
        n_atoms[:len(structures)] = counts
        cell = np.zeros((n_slots, 3, 3), self.dtype)
        cell[:len(structures)] = self.cell[structures]
        pbc = np.zeros((n_slots, 3), bool)
        pbc[:len(structures)] = self.pbc[structures]
        if pad:
            n_atoms[b] = n_cap - n_real
            # the dummy structure's unit cell (padding pairs are 1 A long); empty slots get it too, so a
            # stress (1/V) dE/d eps of a slot without atoms is 0, not 0/0
            cell[len(structures):] = np.eye(3)

        pair_sel = np.concatenate([np.arange(self._pair_starts[m], self._pair_starts[m + 1]) for m in structures])
        shift = np.repeat(first, pair_counts).astype(np.int32)
        idx_i = np.full(p_cap, n_real, np.int32)
        idx_j = np.full(p_cap, n_real, np.int32)
        idx_i[:p_real] = self._pair_i[pair_sel] + shift
        idx_j[:p_real] = self._pair_j[pair_sel] + shift
        cell_shifts = np.zeros((p_cap, 3), np.int32)
        cell_shifts[:p_real] = self._pair_shifts[pair_sel]
        cell_shifts[p_real:] = PAD_SHIFT

        # each couple (i, j, S) / (j, i, -S) has one filter: PAIR_HALF lists the first of each, PAIR_INVERSE
        # maps every pair to it; padding pairs share one padding entry (a padding pair, or pair 0 if none)
        pair_structure = np.repeat(np.arange(len(structures)), pair_counts)
        local_first = np.concatenate([[0], np.cumsum(pair_counts)[:-1]]).astype(np.int64)
        canonical = (self._canonical_pairs()[pair_sel] - self._pair_starts[structures][pair_structure]
                     + local_first[pair_structure])
        half, inverse = couples(canonical)
        h_real = len(half)
        h_cap = _round_up(h_real + 1, max(1, self.pair_bucket // 2)) if pad else h_real
        pair_half = np.full(h_cap, p_real if p_cap > p_real else 0, np.int32)
        pair_half[:h_real] = half
        pair_inverse = np.full(p_cap, h_real, np.int32)
        pair_inverse[:p_real] = inverse

        batch = {keys.ATOMIC_NUMBERS: numbers, keys.POSITIONS: positions, keys.CELL: cell, keys.PBC: pbc,
                 keys.STRUCTURE_INDEX: structure, keys.N_ATOMS: n_atoms, keys.IDX_I: idx_i, keys.IDX_J: idx_j,
                 keys.CELL_SHIFTS: cell_shifts, keys.PAIR_HALF: pair_half, keys.PAIR_INVERSE: pair_inverse}
        if not pad:
            return batch
        targets = np.zeros(b + 1, self.dtype)
        if self.targets is not None:
            targets[:len(structures)] = self.targets[structures]
        weights = np.zeros(b + 1, self.dtype)
        weights[:len(structures)] = 1.0
        if self.forces is None and self.stress is None:
            return batch, targets, weights
        keyed_targets, keyed_weights = {keys.ENERGY: targets}, {keys.ENERGY: weights}
        if self.forces is not None:
            forces = np.zeros((n_cap, 3), self.dtype)
            forces[:n_real] = self.forces[atom_idx]
            atom_mask = np.zeros(n_cap, self.dtype)
            atom_mask[:n_real] = 1.0
            keyed_targets[keys.FORCES], keyed_weights[keys.FORCES] = forces, atom_mask
        if self.stress is not None:
            stress = np.zeros((b + 1, 3, 3), self.dtype)
            stress[:len(structures)] = self.stress[structures]
            keyed_targets[keys.STRESS] = stress
        return batch, keyed_targets, keyed_weights


class MoleculeBatches(StructureBatches):
    """:class:`StructureBatches` of molecules (the QM9 and MD17 setting): errors name ``molecule m``.

    The same arguments and batches; kept as the name the QM9 and MD17 code uses.
    """

    kind = "molecule"
