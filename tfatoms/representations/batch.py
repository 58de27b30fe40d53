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


def build_batch(structures, cutoff: float | None = None, dtype=np.float32, model=None) -> dict:
    """Concatenate ``ase.Atoms`` structures into one atomistic batch (no padding).

    The same path training takes: :meth:`StructureBatches.collate
    <tfatoms.representations.padded.StructureBatches.collate>` with ``pad=False``.

    Parameters
    ----------
    structures : ``ase.Atoms`` or a list of them.
    cutoff : neighbour cutoff in Angstrom (give the model's, ``model.cutoff``). ``None``: every
        ordered pair ``i != j`` of each structure (molecules only; a periodic structure raises).
    dtype : float type of ``POSITIONS`` and ``CELL``: float32 or float64.
    model : the model the batch is for: its cutoff is used (``cutoff`` may only repeat it) and its
        ``max_z`` checked.

    Returns
    -------
    dict with the keys of :mod:`tfatoms.keys`: ``ATOMIC_NUMBERS`` (n_atoms,) int32,
    ``POSITIONS`` (n_atoms, 3), ``CELL`` (n_structures, 3, 3), ``PBC`` (n_structures, 3)
    bool, ``STRUCTURE_INDEX`` (n_atoms,) int32, ``N_ATOMS`` (n_structures,) int32,
    ``IDX_I``/``IDX_J`` (n_pairs,) int32 global atom indices, ``CELL_SHIFTS`` (n_pairs, 3) int32,
    with ``r_ij = positions[j] - positions[i] + CELL_SHIFTS @ cell``.

    ``POSITIONS`` are those of :func:`prepare_positions`: a molecule centred on its
    centroid, a periodic structure wrapped into its cell (energies and forces are the same).

    Raises ``ValueError`` naming the structure for an empty structure, non-numeric or
    non-finite positions, unknown elements, coordinates too large to represent or two
    atoms closer than 1e-6 Angstrom (in ``dtype``).
    """
    from tfatoms.representations.padded import StructureBatches

    if hasattr(structures, "get_positions"):
        structures = [structures]
    structures = list(structures)
    data = StructureBatches.from_atoms(structures, cutoff=cutoff, dtype=dtype, batch_size=max(1, len(structures)),
                                       model=model)
    return data.collate(np.arange(len(data)), pad=False)
