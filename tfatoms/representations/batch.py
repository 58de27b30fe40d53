"""Atomistic batches: many structures concatenated into one dict of flat arrays.

The layout (keys, shapes, dtypes) is defined in :mod:`tfatoms.keys`. Atoms of all
structures are concatenated; ``STRUCTURE_INDEX`` says which structure each atom
belongs to and ``IDX_I``/``IDX_J`` are *global* indices into the concatenated
atom arrays, so message passing over a batch is one gather/scatter.
"""
from __future__ import annotations

import numpy as np

from tfatoms import keys
from tfatoms._validation import atomic_numbers_array, positions_array
from tfatoms.representations.neighbors import neighbor_pairs

#: Two atoms closer than this (Angstrom) are treated as the same point: an error.
MIN_DISTANCE = 1e-6


def build_batch(structures, cutoff: float | None = None, dtype=np.float32) -> dict:
    """Concatenate ``ase.Atoms`` structures into one atomistic batch.

    Parameters
    ----------
    structures : ``ase.Atoms`` or a list of them.
    cutoff : neighbour cutoff in Angstrom. ``None``: every ordered pair ``i != j`` of each
        structure, with zero offsets (molecules only; a periodic structure raises).
    dtype : float type of ``POSITIONS``, ``CELL`` and ``OFFSETS``.

    Returns
    -------
    dict with the keys of :mod:`tfatoms.keys`: ``ATOMIC_NUMBERS`` (n_atoms,) int32,
    ``POSITIONS`` (n_atoms, 3), ``CELL`` (n_structures, 3, 3), ``PBC`` (n_structures, 3)
    bool, ``STRUCTURE_INDEX`` (n_atoms,) int32, ``N_ATOMS`` (n_structures,) int32,
    ``IDX_I``/``IDX_J`` (n_pairs,) int32 global atom indices, ``OFFSETS`` (n_pairs, 3),
    Angstrom, with ``r_ij = positions[j] - positions[i] + offsets``.

    Raises ``ValueError`` naming the structure for an empty structure, non-finite
    positions, unknown elements or two atoms closer than 1e-6 Angstrom.
    """
    if hasattr(structures, "get_positions"):
        structures = [structures]
    structures = list(structures)
    if not structures:
        raise ValueError("structures is empty: nothing to batch")
    if cutoff is not None:
        cutoff = float(cutoff)
        if not np.isfinite(cutoff) or cutoff <= 0:
            raise ValueError(f"cutoff must be a positive finite distance in Angstrom or None, got {cutoff}")

    parts = {k: [] for k in (keys.ATOMIC_NUMBERS, keys.POSITIONS, keys.CELL, keys.PBC, keys.N_ATOMS,
                             keys.IDX_I, keys.IDX_J, keys.OFFSETS)}
    first = 0
    for s, atoms in enumerate(structures):
        try:
            pos = positions_array(atoms.get_positions(), name=f"positions of structure {s}")
            z = atomic_numbers_array(atoms.get_atomic_numbers(), n_atoms=len(pos),
                                     name=f"atomic numbers of structure {s}")
        except AttributeError:
            raise ValueError(f"structure {s} is not an ase.Atoms object: {type(atoms).__name__}") from None
        cell = np.asarray(atoms.get_cell()[:], dtype=np.float64)
        pbc = np.asarray(atoms.get_pbc(), dtype=bool)
        if cutoff is None:
            if pbc.any():
                raise ValueError(f"structure {s} is periodic (pbc={pbc.tolist()}): give a cutoff")
            i, j = np.nonzero(~np.eye(len(pos), dtype=bool))
            offsets = np.zeros((len(i), 3))
        else:
            i, j, offsets = neighbor_pairs(pos, cell, pbc, cutoff)
        _check_overlaps(s, pos, i, j, offsets)
        parts[keys.ATOMIC_NUMBERS].append(z)
        parts[keys.POSITIONS].append(pos)
        parts[keys.CELL].append(cell)
        parts[keys.PBC].append(pbc)
        parts[keys.N_ATOMS].append(len(pos))
        parts[keys.IDX_I].append(i + first)
        parts[keys.IDX_J].append(j + first)
        parts[keys.OFFSETS].append(offsets)
        first += len(pos)

    n_atoms = np.array(parts[keys.N_ATOMS], np.int32)
    return {
        keys.ATOMIC_NUMBERS: np.concatenate(parts[keys.ATOMIC_NUMBERS]).astype(np.int32),
        keys.POSITIONS: np.concatenate(parts[keys.POSITIONS]).astype(dtype),
        keys.CELL: np.stack(parts[keys.CELL]).astype(dtype),
        keys.PBC: np.stack(parts[keys.PBC]),
        keys.STRUCTURE_INDEX: np.repeat(np.arange(len(n_atoms), dtype=np.int32), n_atoms),
        keys.N_ATOMS: n_atoms,
        keys.IDX_I: np.concatenate(parts[keys.IDX_I]).astype(np.int32),
        keys.IDX_J: np.concatenate(parts[keys.IDX_J]).astype(np.int32),
        keys.OFFSETS: np.concatenate(parts[keys.OFFSETS]).reshape(-1, 3).astype(dtype),
    }


def _check_overlaps(s, pos, i, j, offsets):
    """Raise if any pair of structure ``s`` is shorter than :data:`MIN_DISTANCE`."""
    if len(i) == 0:
        return
    dist = np.linalg.norm(pos[j] - pos[i] + offsets, axis=1)
    bad = np.flatnonzero(dist < MIN_DISTANCE)
    if len(bad):
        k = bad[0]
        raise ValueError(f"structure {s}: atoms {int(i[k])} and {int(j[k])} are on top of each other "
                         f"(distance {dist[k]:.2e} A < {MIN_DISTANCE} A)")
