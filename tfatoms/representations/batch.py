"""Atomistic batches: many structures concatenated into one dict of flat arrays.

The layout (keys, shapes, dtypes) is defined in :mod:`tfatoms.keys`. Atoms of all
structures are concatenated; ``STRUCTURE_INDEX`` says which structure each atom
belongs to and ``IDX_I``/``IDX_J`` are *global* indices into the concatenated
atom arrays, so message passing over a batch is one gather/scatter.

Coordinates are prepared in float64 before they are cast to the batch dtype
(:func:`prepare_positions`): a molecule is translated so its centroid is at the
origin, and a periodic structure has its atoms wrapped into the cell along the
periodic axes (and is centred along the others). Energies and forces are
invariant under both, so this is exact, and a molecule far from the origin keeps
its float32 precision. Coordinates beyond :data:`MAX_COORDINATE` after that are
refused, and the overlap check runs on the values the model sees.
"""
from __future__ import annotations

import numpy as np

from tfatoms import keys
from tfatoms._validation import atomic_numbers_array, float_dtype, numeric_array, positions_array
from tfatoms.representations.neighbors import neighbor_pairs

#: Two atoms closer than this (Angstrom) are treated as the same point: an error.
MIN_DISTANCE = 1e-6
#: Largest coordinate (Angstrom) accepted after centring or wrapping: float32 resolves 0.06 A there.
MAX_COORDINATE = 1e6


def prepare_positions(positions, cell=None, pbc=False, name: str = "structure") -> np.ndarray:
    """float64 positions translated to the centroid (molecules) or wrapped into the cell (periodic axes).

    Along periodic axes atoms are moved by whole cell vectors into ``[0, 1)`` fractional
    coordinates (atoms already inside are not touched); along non-periodic axes the
    structure is translated so its mean fractional coordinate is 0. Both leave every
    pair vector and so the energy unchanged. Raises ``ValueError`` naming ``name`` if
    a coordinate or periodic cell vector is still larger than :data:`MAX_COORDINATE`.
    """
    pos = np.array(positions, dtype=np.float64)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    if not pbc.any():
        pos -= pos.mean(axis=0)
    else:
        from ase.geometry import complete_cell

        cell = np.asarray(cell, dtype=np.float64)
        if np.abs(cell[pbc]).max() > MAX_COORDINATE:
            raise ValueError(f"{name}: periodic cell vectors longer than {MAX_COORDINATE:g} A cannot be "
                             f"represented accurately: {cell.tolist()}")
        full = complete_cell(cell)
        frac = np.linalg.solve(full.T, pos.T).T
        shift = np.zeros_like(frac)
        shift[:, pbc] = np.floor(frac[:, pbc])
        if not pbc.all():
            shift[:, ~pbc] = frac[:, ~pbc].mean(axis=0)
        moved = np.any(shift != 0, axis=1)
        pos[moved] -= shift[moved] @ full
    extent = np.abs(pos).max() if len(pos) else 0.0
    if extent > MAX_COORDINATE:
        raise ValueError(f"{name}: atoms lie up to {extent:.3g} A from the centre of the structure; coordinates "
                         f"beyond {MAX_COORDINATE:g} A cannot be represented accurately (split the structure)")
    return pos


def check_overlaps(name: str, pos, i, j, offsets=None):
    """Raise if a pair ``(i, j)`` is shorter than :data:`MIN_DISTANCE`, computed in the dtype of ``pos``.

    ``pos`` and ``offsets`` are the arrays the model sees (after the cast to float32, say),
    so two atoms that the cast merges are found too.
    """
    if len(i) == 0:
        return
    vectors = pos[j] - pos[i]
    if offsets is not None:
        vectors = vectors + offsets
    dist = np.linalg.norm(vectors.astype(np.float64), axis=1)
    bad = np.flatnonzero(dist < MIN_DISTANCE)
    if len(bad):
        k = bad[0]
        raise ValueError(f"{name}: atoms {int(i[k])} and {int(j[k])} are on top of each other "
                         f"(distance {dist[k]:.2e} A, closer than {MIN_DISTANCE:g} A)")


def build_batch(structures, cutoff: float | None = None, dtype=np.float32) -> dict:
    """Concatenate ``ase.Atoms`` structures into one atomistic batch.

    Parameters
    ----------
    structures : ``ase.Atoms`` or a list of them.
    cutoff : neighbour cutoff in Angstrom. ``None``: every ordered pair ``i != j`` of each
        structure, with zero offsets (molecules only; a periodic structure raises).
    dtype : float type of ``POSITIONS``, ``CELL`` and ``OFFSETS``: float32 or float64.

    Returns
    -------
    dict with the keys of :mod:`tfatoms.keys`: ``ATOMIC_NUMBERS`` (n_atoms,) int32,
    ``POSITIONS`` (n_atoms, 3), ``CELL`` (n_structures, 3, 3), ``PBC`` (n_structures, 3)
    bool, ``STRUCTURE_INDEX`` (n_atoms,) int32, ``N_ATOMS`` (n_structures,) int32,
    ``IDX_I``/``IDX_J`` (n_pairs,) int32 global atom indices, ``OFFSETS`` (n_pairs, 3),
    Angstrom, with ``r_ij = positions[j] - positions[i] + offsets``.

    ``POSITIONS`` are those of :func:`prepare_positions`: a molecule centred on its
    centroid, a periodic structure wrapped into its cell (energies and forces are the same).

    Raises ``ValueError`` naming the structure for an empty structure, non-numeric or
    non-finite positions, unknown elements, coordinates too large to represent or two
    atoms closer than 1e-6 Angstrom (in ``dtype``).
    """
    dtype = float_dtype(dtype)
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
            raw = atoms.get_positions()
            numbers = atoms.get_atomic_numbers()
            cell = atoms.get_cell()[:]
            pbc = atoms.get_pbc()
        except AttributeError:
            raise ValueError(f"structure {s} is not an ase.Atoms object: {type(atoms).__name__}") from None
        name = f"positions of structure {s}"
        pos = positions_array(numeric_array(raw, name), name=name)
        z = atomic_numbers_array(numbers, n_atoms=len(pos), name=f"atomic numbers of structure {s}")
        cell = numeric_array(cell, f"cell of structure {s}")
        pbc = np.asarray(pbc, dtype=bool)
        if cutoff is None and pbc.any():
            raise ValueError(f"structure {s} is periodic (pbc={pbc.tolist()}): give a cutoff")
        pos = prepare_positions(pos, cell, pbc, name=f"structure {s}")
        if cutoff is None:
            i, j = np.nonzero(~np.eye(len(pos), dtype=bool))
            offsets = np.zeros((len(i), 3))
        else:
            i, j, offsets = neighbor_pairs(pos, cell, pbc, cutoff)
        pos_cast, offsets_cast = pos.astype(dtype), offsets.reshape(-1, 3).astype(dtype)
        check_overlaps(f"structure {s}", pos_cast, i, j, offsets_cast)
        parts[keys.ATOMIC_NUMBERS].append(z)
        parts[keys.POSITIONS].append(pos_cast)
        parts[keys.CELL].append(cell)
        parts[keys.PBC].append(pbc)
        parts[keys.N_ATOMS].append(len(pos))
        parts[keys.IDX_I].append(i + first)
        parts[keys.IDX_J].append(j + first)
        parts[keys.OFFSETS].append(offsets_cast)
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
