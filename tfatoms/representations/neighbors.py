"""Neighbour lists under periodic boundary conditions.

A thin, validated wrapper around `vesin <https://github.com/Luthaf/vesin>`_ (a
cell-list neighbour search in C++). vesin was measured against
``ase.neighborlist.neighbor_list`` with ``bench/bench_neighbors.py`` and was the
faster of the two on both a periodic 2,000-atom cell and a 20-atom molecule.

Pairs are directed and listed in both directions (i -> j and j -> i); every
periodic image of ``j`` within the cutoff is a separate pair, so cutoffs longer
than half the cell (or than the cell) are handled exactly. The pair vector is
``r_ij = positions[j] - positions[i] + offsets`` (see :mod:`tfatoms.keys`).
"""
from __future__ import annotations

import numpy as np
from vesin import NeighborList

from tfatoms._validation import finite_array, positions_array


def model_cutoff(model):
    """The cutoff (Angstrom, float) of an energy model, or ``None`` if it takes every pair.

    Reads ``model.cutoff`` (``SchNet(cutoff=...)``; a :class:`~tfatoms.models.Potential` reports
    its energy model's); a model without the attribute uses all pairs.
    """
    cutoff = getattr(model, "cutoff", None)
    if cutoff is None:
        return None
    cutoff = float(cutoff)
    if not np.isfinite(cutoff) or cutoff <= 0:
        raise ValueError(f"{type(model).__name__} has an invalid cutoff {cutoff!r}")
    return cutoff


def pairs_cutoff(model, cutoff, what: str) -> float | None:
    """The cutoff the pairs fed to ``model`` must have: the model's own, or ``cutoff`` where the model has none.

    ``cutoff`` (Angstrom or ``None``) may repeat the model's cutoff; a different one raises ``ValueError``
    (``what`` names the model in the message): the pairs a model sees must be those it was built for.
    For a model without a cutoff (all pairs) ``cutoff`` truncates its pairs (needed for periodic cells).
    """
    if cutoff is not None:
        cutoff = float(cutoff)
        if not np.isfinite(cutoff) or cutoff <= 0:
            raise ValueError(f"cutoff must be a positive finite distance in Angstrom or None, got {cutoff}")
    own = None if model is None else model_cutoff(model)
    if own is None:
        return cutoff
    if cutoff is not None and abs(cutoff - own) > 1e-9 * own:
        raise ValueError(f"cutoff={cutoff} A contradicts the cutoff of the {what}, {own} A: leave cutoff unset "
                         f"(the model's own is read)")
    return own


def neighbor_pairs(positions, cell, pbc, cutoff: float, self_interaction: bool = False):
    """All directed pairs ``(i, j, image of j)`` with ``|r_ij| < cutoff``, with Cartesian offsets.

    Parameters
    ----------
    positions : (n_atoms, 3) Cartesian positions, Angstrom.
    cell : (3, 3) lattice vectors as rows, or 3 lengths, Angstrom. May be ``None`` or
        zero for a molecule (``pbc`` all False); the vectors along periodic axes must be
        linearly independent.
    pbc : bool or 3 bools, periodicity along each cell vector.
    cutoff : float > 0, Angstrom.
    self_interaction : also list each atom with itself at zero offset.

    Returns
    -------
    idx_i : (n_pairs,) int32, centre atom.
    idx_j : (n_pairs,) int32, neighbour atom.
    offsets : (n_pairs, 3) float64, Cartesian shift ``S @ cell`` (Angstrom) of the image of j,
        with ``S`` the integer cell shift of :func:`neighbor_list`. Pairs are sorted by i, then j, then shift.
    """
    i, j, shifts, cell = _search(positions, cell, pbc, cutoff, self_interaction)
    return i, j, shifts.astype(np.float64) @ cell


def neighbor_list(positions, cell, pbc, cutoff: float, self_interaction: bool = False):
    """All directed pairs ``(i, j, S)`` with ``|r_j - r_i + S @ cell| < cutoff``, with integer cell shifts.

    The same pairs, in the same order, as :func:`neighbor_pairs`, but the image of ``j``
    is given by its integer cell shift ``S`` (n_pairs, 3) int32 instead of the Cartesian
    offset: what atomistic batches carry (``keys.CELL_SHIFTS``), so that the model computes
    the offsets from the cell and stress (a derivative with respect to the cell) is exact.
    Arguments and errors as :func:`neighbor_pairs`.
    """
    i, j, shifts, _ = _search(positions, cell, pbc, cutoff, self_interaction)
    return i, j, shifts.astype(np.int32)


def _search(positions, cell, pbc, cutoff, self_interaction):
    """Validated vesin search: sorted ``(i, j, integer shifts, (3, 3) cell)``."""
    pos = positions_array(positions, dim=3)
    periodic = np.asarray(pbc, dtype=bool)
    if periodic.shape not in ((), (3,)):
        raise ValueError(f"pbc must be a bool or 3 bools, got {pbc!r}")
    pbc = np.broadcast_to(periodic, (3,)).copy()
    cell = np.zeros((3, 3)) if cell is None else finite_array(cell, "cell")
    if cell.shape == (3,):
        cell = np.diag(cell)
    if cell.shape != (3, 3):
        raise ValueError(f"cell must be a (3, 3) matrix or 3 lengths, got shape {cell.shape}")
    if pbc.any() and np.linalg.matrix_rank(cell[pbc], tol=1e-9) < pbc.sum():
        raise ValueError(f"cell vectors along the periodic axes {pbc.tolist()} are zero or "
                         f"linearly dependent: {cell.tolist()}")
    cutoff = float(cutoff)
    if not np.isfinite(cutoff) or cutoff <= 0:
        raise ValueError(f"cutoff must be a positive finite distance in Angstrom, got {cutoff}")

    points, box = _vacuum_box(pos, cell, pbc, cutoff)
    heights = abs(np.linalg.det(box)) / np.linalg.norm(np.cross(box[[1, 2, 0]], box[[2, 0, 1]]), axis=1)
    if heights.max() > THIN_BOX_RATIO * heights.min():
        # a thin periodic box, which vesin 0.6.2 cannot take: ASE's (slower) cell list
        from ase.neighborlist import primitive_neighbor_list

        i, j, shifts = primitive_neighbor_list("ijS", pbc, cell, pos, cutoff)
    else:
        i, j, shifts = NeighborList(cutoff=cutoff, full_list=True).compute(
            points=points, box=box, periodic=np.ones(3, bool), quantities="ijS")
    i, j, shifts = i.astype(np.int64), j.astype(np.int64), shifts.astype(np.int64)
    if np.any(shifts[:, ~pbc]):
        raise RuntimeError("neighbour search found an image along a non-periodic axis (a tfatoms bug)")
    n = len(pos)
    if self_interaction:
        i = np.concatenate([i, np.arange(n)])
        j = np.concatenate([j, np.arange(n)])
        shifts = np.concatenate([shifts, np.zeros((n, 3), np.int64)])
    order = _sort_order(i, j, shifts, n)
    return i[order].astype(np.int32), j[order].astype(np.int32), shifts[order], cell


#: A periodic box whose heights differ by more than this factor goes to ASE's neighbour list instead of
#: vesin, which kills the process (SIGFPE) on some (1,000 atoms in 1,000 x 1,000 x 5 A, 3 A cutoff: a
#: factor 200; 650 x 650 x 5 A with 165,000 atoms, a factor 130, works).
THIN_BOX_RATIO = 20.0


def _vacuum_box(pos, cell, pbc, cutoff: float):
    """Positions and a cell periodic along all three axes that give the same pairs as ``(cell, pbc)``.

    Every non-periodic axis is replaced by a vacuum vector orthogonal to the periodic ones and
    longer than the structure's extent along it plus the cutoff, with the atoms translated into
    its middle: no image along it comes within the cutoff and no atom is wrapped across it, so
    the pairs and the integer shifts along the periodic axes are those of ``(cell, pbc)`` and the
    shifts along the vacuum axes are 0. vesin 0.6.2 is fed only such boxes, as long along the
    vacuum axes as the longest side: with a non-periodic axis, or a thin periodic box, it kills
    the process (SIGFPE) on flat, sparse structures, e.g. 1,000 atoms spread over
    1,000 x 1,000 x 1 A with a 3 A cutoff (measured with vesin 0.6.2).
    """
    if pbc.all():
        return pos, cell
    periodic = cell[pbc]
    if len(periodic):
        _, _, vt = np.linalg.svd(periodic)
        normals = vt[len(periodic):]                  # orthonormal complement of the periodic vectors
    else:
        normals = np.eye(3)
    box = cell.copy()
    points = pos.copy()
    margin = cutoff + 1.0
    # vacuum as long as the box's longest side: vesin also fails on thin boxes (1000 x 1000 x 5 A, 3 A cutoff)
    longest = max([np.ptp(pos, axis=0).max() if len(pos) else 0.0] + list(np.linalg.norm(periodic, axis=1)))
    for axis, u in zip(np.flatnonzero(~pbc), normals):
        along = points @ u
        low, extent = (along.min(), np.ptp(along)) if len(points) else (0.0, 0.0)
        length = max(extent + margin, longest)
        points += np.outer(np.ones(len(points)), u) * (0.5 * (length - extent) - low)
        box[axis] = u * length
    return points, box


def _sort_order(i, j, shifts, n):
    """Permutation sorting pairs by i, then j, then shift (each triple is unique)."""
    if len(i) == 0:
        return np.zeros(0, np.int64)
    cols = [np.ascontiguousarray(shifts[:, a]) for a in range(3)]
    lows = [c.min() for c in cols]
    spans = [int(c.max() - low) + 1 for c, low in zip(cols, lows)]
    if float(n) * n * np.prod(spans, dtype=float) < 2.0 ** 62:   # one int64 key: much faster than lexsort
        key = i * n + j
        for c, low, span in zip(cols, lows, spans):
            key = key * span + (c - low)
        return np.argsort(key, kind="stable")
    return np.lexsort((cols[2], cols[1], cols[0], j, i))
