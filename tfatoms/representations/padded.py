"""Fixed-shape batches of molecules, so graph (and XLA) mode compiles a handful of times, not per batch.

A batch of ``B`` molecules is concatenated as in :func:`build_batch` and then
padded:

* atoms to ``A`` = the next multiple of ``atom_bucket`` above the real count
  (at least one padding atom always exists);
* pairs to ``P`` = the next multiple of ``pair_bucket`` (at least the real count);
* structures to ``B + 1``: slot ``B`` is a dummy structure owning every padding
  atom; molecules missing from a short last batch have 0 atoms.

Padding atoms have ``Z = 0`` and sit at the origin; padding pairs join the first
padding atom to itself with the Cartesian offset (1, 0, 0) A, so their distance
is 1 A (no zero norm, no NaN gradient) and their messages only ever reach the
dummy structure. ``weights`` (B + 1,) is 1 for real molecules and 0 otherwise:
losses and metrics must use it. With ``B = 32`` QM9 batches (about 580 atoms,
10,600 pairs) ``atom_bucket=64``, ``pair_bucket=1024`` give fewer than 20
distinct shapes, and 5-10 % padding.

Neighbour pairs are precomputed once per molecule: all ordered pairs ``i != j``
(``cutoff=None``, the thesis' QM9 setting) or those closer than ``cutoff``.

With per-atom ``forces`` (energy+force training, thesis eq. 5.7) a batch's targets
and weights are dicts keyed by :mod:`tfatoms.keys` (see :mod:`tfatoms.train.losses`):
``targets = {ENERGY: (B + 1,), FORCES: (A, 3)}`` (zeros on padding atoms) and
``weights = {ENERGY: (B + 1,), FORCES: (A,)}``, the second being the atom mask
(1 for real atoms, 0 for padding). Without forces they stay plain arrays, as before.

Molecules only: batches carry no cell, pbc or cell shifts, so periodic structures
(and stress training) need another batch source.
"""
from __future__ import annotations

import numpy as np

from tfatoms import keys
from tfatoms._validation import (atomic_numbers_array, finite_array, float_dtype, numeric_array, positive_int,
                                 positions_array)
from tfatoms.representations.batch import MAX_COORDINATE, check_overlaps
from tfatoms.representations.batch_source import BatchSource

#: Cartesian offset of the padding pairs (Angstrom): a padding atom's pair with itself has this length.
PAD_OFFSET = (1.0, 0.0, 0.0)


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


class MoleculeBatches(BatchSource):
    """Molecules (flat arrays + offsets) with precomputed pairs, collated into padded fixed-shape batches.

    Args:
        numbers: ``(n_atoms_total,)`` atomic numbers of all molecules, concatenated.
        positions: ``(n_atoms_total, 3)`` Angstrom.
        offsets: ``(n_molecules + 1,)``; molecule ``m`` is atoms ``offsets[m]:offsets[m+1]``.
        targets: ``(n_molecules,)`` or ``None``.
        batch_size: molecules per batch (32 in the thesis).
        cutoff: neighbour cutoff, Angstrom; ``None`` for all pairs.
        atom_bucket, pair_bucket: padding granularity.
        dtype: float type of positions, offsets and targets (float32 or float64).
        max_z: if given, the largest atomic number the model embeds (``model.max_z``);
            larger ones raise here instead of inside TensorFlow.
        forces: ``None``, or per-atom forces in eV/A ragged like ``positions``: an
            ``(n_atoms_total, 3)`` array, or one ``(n_atoms_m, 3)`` array (or ``None``)
            per molecule. Every molecule needs finite forces: a missing one (``None`` or
            NaN rows) raises a ``ValueError`` naming the molecule.
        names: optional name of each molecule (e.g. ``"train.xyz frame 17"``) used in errors.

    Each molecule is centred on its centroid in float64 before its positions are cast
    to ``dtype`` (energies and forces are translation invariant, so this is exact and a
    molecule far from the origin keeps its precision); ``positions`` holds the centred
    coordinates.

    Raises ``ValueError`` naming the molecule for inconsistent arrays, empty molecules,
    non-numeric or non-finite positions, atomic numbers that are not integers in
    1..118 (0 is the padding element), coordinates too large to represent, non-finite
    targets, forces missing (``None``) or not finite for a molecule, or two atoms of a
    molecule closer than 1e-6 A (in ``dtype``).
    """

    def __init__(self, numbers, positions, offsets, targets=None, batch_size: int = 32,
                 cutoff: float | None = None, atom_bucket: int = 64, pair_bucket: int = 1024,
                 dtype=np.float32, max_z: int | None = None, forces=None, names=None):
        self.dtype = float_dtype(dtype)
        numbers = np.asarray(numbers)
        positions = positions_array(numeric_array(positions, "positions"), "positions", allow_empty=True)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        if self.offsets.ndim != 1 or len(self.offsets) < 2 or self.offsets[0] != 0:
            raise ValueError("offsets must be 1-D, start at 0 and hold n_molecules + 1 entries")
        if numbers.ndim != 1 or self.offsets[-1] != len(numbers) or positions.shape != (len(numbers), 3):
            raise ValueError(f"offsets end at {self.offsets[-1]} but there are {len(numbers)} atomic numbers "
                             f"and positions of shape {positions.shape}")
        n_atoms = np.diff(self.offsets)
        if np.any(n_atoms < 1):
            raise ValueError(f"molecule {int(np.argmax(n_atoms < 1))} has no atoms")
        self.n_atoms = n_atoms
        self.names = None
        if names is not None:
            self.names = [str(name) for name in names]
            if len(self.names) != len(n_atoms):
                raise ValueError(f"names has {len(self.names)} entries for {len(n_atoms)} molecules")
        self.numbers = self._checked_numbers(numbers, max_z)
        self.positions = self._centred(positions)
        self.targets = None
        if targets is not None:
            targets = numeric_array(targets, "targets")
            if targets.shape != (len(n_atoms),):
                raise ValueError(f"targets must have shape ({len(n_atoms)},), got {targets.shape}")
            self.targets = finite_array(targets, "targets")
        self.forces = None if forces is None else self._checked_forces(forces)
        self.batch_size = positive_int(batch_size, "batch_size")
        self.cutoff = None if cutoff is None else float(cutoff)
        if self.cutoff is not None and not (np.isfinite(self.cutoff) and self.cutoff > 0):
            raise ValueError(f"cutoff must be a positive finite distance in Angstrom or None, got {cutoff}")
        self.atom_bucket = positive_int(atom_bucket, "atom_bucket")
        self.pair_bucket = positive_int(pair_bucket, "pair_bucket")
        self._pair_i, self._pair_j, self._pair_offsets = self._all_pairs()

    def record(self, m: int) -> str:
        """How errors name molecule ``m``: ``molecule 3`` or ``molecule 3 ('train.xyz frame 17')``."""
        return f"molecule {m}" + (f" ({self.names[m]!r})" if self.names is not None else "")

    def _checked_forces(self, forces) -> np.ndarray:
        """Forces as one ``(n_atoms_total, 3)`` float64 array; an error naming the first molecule without them."""
        n_total = int(self.offsets[-1])
        hint = ("every structure of a force-trained set needs forces: remove it from the set or label it "
                "with the reference method")
        if isinstance(forces, (list, tuple)):
            if len(forces) != len(self.n_atoms):
                raise ValueError(f"forces has {len(forces)} entries for {len(self.n_atoms)} molecules")
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
                                 f"array per molecule), got {forces.shape}")
        self.check_forces(forces, hint)
        return forces

    def check_forces(self, forces=None, hint: str = "remove or fix those records before training"):
        """Raise ``ValueError`` naming the first molecule whose forces are NaN or infinite (missing)."""
        forces = self.forces if forces is None else forces
        bad = ~np.all(np.isfinite(forces), axis=1)
        if bad.any():
            k = int(np.argmax(bad))
            m = self._molecule_of_atom(k)
            n_bad = len(np.unique(np.searchsorted(self.offsets, np.flatnonzero(bad), side="right") - 1))
            raise ValueError(f"{self.record(m)} has no forces (atom {k - self.offsets[m]}: "
                             f"{forces[k].tolist()}; {n_bad} of {len(self)} molecules without forces); {hint}")

    def atom_indices(self, molecules) -> np.ndarray:
        """Indices into the flat per-atom arrays of the atoms of ``molecules``, in batch order."""
        return np.concatenate([np.arange(self.offsets[m], self.offsets[m + 1]) for m in molecules])

    def _molecule_of_atom(self, k: int) -> int:
        return int(np.searchsorted(self.offsets, k, side="right") - 1)

    def _checked_numbers(self, numbers, max_z) -> np.ndarray:
        """Atomic numbers by the rules of :func:`build_batch`, an error naming the molecule otherwise."""
        try:
            z = atomic_numbers_array(numbers, name="atomic numbers")
        except ValueError:
            for m in range(len(self.n_atoms)):  # find the molecule, and raise with its name
                atomic_numbers_array(numbers[self.offsets[m]:self.offsets[m + 1]],
                                     name=f"atomic numbers of molecule {m}")
            raise
        if max_z is not None and len(z) and z.max() > max_z:
            k = int(np.argmax(z > max_z))
            from ase.data import chemical_symbols

            m = self._molecule_of_atom(k)
            raise ValueError(f"molecule {m}, atom {k - self.offsets[m]}: element {chemical_symbols[z[k]]} "
                             f"(Z = {z[k]}) is beyond the model's max_z = {max_z}")
        return z.astype(np.int32)

    def _centred(self, positions) -> np.ndarray:
        """Positions with each molecule's centroid subtracted (float64); refuse those too large to represent."""
        molecule = np.repeat(np.arange(len(self.n_atoms)), self.n_atoms)
        centroid = np.stack([np.bincount(molecule, weights=positions[:, a], minlength=len(self.n_atoms))
                             for a in range(3)], axis=1) / self.n_atoms[:, None]
        centred = positions - centroid[molecule]
        far = np.abs(centred).max(axis=1) > MAX_COORDINATE
        if far.any():
            k = int(np.argmax(far))
            m = self._molecule_of_atom(k)
            raise ValueError(f"molecule {m}: atom {k - self.offsets[m]} lies {np.abs(centred[k]).max():.3g} A "
                             f"from the molecule's centre; coordinates beyond {MAX_COORDINATE:g} A cannot be "
                             f"represented accurately")
        return centred

    def __len__(self) -> int:
        """Number of molecules."""
        return len(self.n_atoms)

    def _all_pairs(self):
        """Local pair indices of every molecule, concatenated, and where each molecule's pairs start."""
        pair_i, pair_j, counts = [], [], np.zeros(len(self), np.int64)
        grids = {}
        for m in range(len(self)):
            n = int(self.n_atoms[m])
            if n not in grids:
                grids[n] = np.nonzero(~np.eye(n, dtype=bool))
            i, j = grids[n]
            pos = self.positions[self.offsets[m]:self.offsets[m + 1]]
            check_overlaps(f"molecule {m}", pos.astype(self.dtype), i, j)
            d = np.linalg.norm(pos[j] - pos[i], axis=1)
            if self.cutoff is not None:
                keep = d < self.cutoff
                i, j = i[keep], j[keep]
            pair_i.append(i.astype(np.int32))
            pair_j.append(j.astype(np.int32))
            counts[m] = len(i)
        starts = np.concatenate([[0], np.cumsum(counts)])
        return np.concatenate(pair_i), np.concatenate(pair_j), starts

    def n_pairs(self) -> np.ndarray:
        """Pairs per molecule."""
        return np.diff(self._pair_offsets)

    def collate(self, molecules) -> tuple[dict, np.ndarray, np.ndarray]:
        """Padded batch of the given molecule indices (at most ``batch_size``).

        Returns ``(batch, targets, weights)``: the atomistic batch dict,
        targets ``(B + 1,)`` (zeros without targets) and weights ``(B + 1,)``; with
        forces, ``targets = {ENERGY: (B + 1,), FORCES: (A, 3)}`` and
        ``weights = {ENERGY: (B + 1,), FORCES: (A,)}`` (the atom mask).
        """
        molecules = np.asarray(molecules, dtype=np.int64)
        b = self.batch_size
        if molecules.ndim != 1 or not 0 < len(molecules) <= b:
            raise ValueError(f"a batch holds 1 to {b} molecules, got {molecules.shape}")
        counts = self.n_atoms[molecules]
        pair_counts = self.n_pairs()[molecules]
        n_real, p_real = int(counts.sum()), int(pair_counts.sum())
        n_cap = _round_up(n_real + 1, self.atom_bucket)
        p_cap = max(_round_up(p_real, self.pair_bucket), self.pair_bucket)

        atom_idx = self.atom_indices(molecules)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        numbers = np.zeros(n_cap, np.int32)
        numbers[:n_real] = self.numbers[atom_idx]
        positions = np.zeros((n_cap, 3), self.dtype)
        positions[:n_real] = self.positions[atom_idx]
        structure = np.full(n_cap, b, np.int32)
        structure[:n_real] = np.repeat(np.arange(len(molecules), dtype=np.int32), counts)
        n_atoms = np.zeros(b + 1, np.int32)
        n_atoms[:len(molecules)] = counts
        n_atoms[b] = n_cap - n_real

        pair_sel = np.concatenate([np.arange(self._pair_offsets[m], self._pair_offsets[m + 1]) for m in molecules])
        shift = np.repeat(first, pair_counts).astype(np.int32)
        idx_i = np.full(p_cap, n_real, np.int32)
        idx_j = np.full(p_cap, n_real, np.int32)
        idx_i[:p_real] = self._pair_i[pair_sel] + shift
        idx_j[:p_real] = self._pair_j[pair_sel] + shift
        pair_offsets = np.zeros((p_cap, 3), self.dtype)
        pair_offsets[p_real:] = PAD_OFFSET

        batch = {keys.ATOMIC_NUMBERS: numbers, keys.POSITIONS: positions, keys.STRUCTURE_INDEX: structure,
                 keys.N_ATOMS: n_atoms, keys.IDX_I: idx_i, keys.IDX_J: idx_j, keys.OFFSETS: pair_offsets}
        targets = np.zeros(b + 1, self.dtype)
        if self.targets is not None:
            targets[:len(molecules)] = self.targets[molecules]
        weights = np.zeros(b + 1, self.dtype)
        weights[:len(molecules)] = 1.0
        if self.forces is None:
            return batch, targets, weights
        forces = np.zeros((n_cap, 3), self.dtype)
        forces[:n_real] = self.forces[atom_idx]
        atom_mask = np.zeros(n_cap, self.dtype)
        atom_mask[:n_real] = 1.0
        return batch, {keys.ENERGY: targets, keys.FORCES: forces}, {keys.ENERGY: weights, keys.FORCES: atom_mask}

