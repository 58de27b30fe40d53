"""Neighbour pairs against a brute-force loop over periodic images."""
import itertools

import numpy as np
import pytest

from tfatoms.representations.neighbors import _sort_order, neighbor_pairs


def brute_force(pos, cell, pbc, cutoff, self_interaction=False):
    """Set of (i, j, offset rounded to 1e-6) with |r_j - r_i + offset| < cutoff."""
    cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, float)
    pbc = np.broadcast_to(pbc, 3)
    full = cell.copy()                  # zero non-periodic vectors -> unit normals, for the plane spacings
    for a in range(3):
        if not full[a].any() and pbc.any():
            n = np.cross(full[(a + 1) % 3], full[(a + 2) % 3])
            full[a] = n / np.linalg.norm(n)
    ranges = []
    for a in range(3):
        if pbc[a]:
            # images needed along a: cutoff over the spacing of the lattice planes normal to a,
            # plus 2 because the positions spread over up to 1.6 cells
            spacing = abs(np.linalg.det(full)) / np.linalg.norm(np.cross(full[(a + 1) % 3], full[(a + 2) % 3]))
            k = int(np.ceil(cutoff / spacing)) + 2
            ranges.append(range(-k, k + 1))
        else:
            ranges.append([0])
    pairs = set()
    for shift in itertools.product(*ranges):
        offset = np.array(shift) @ cell
        for i, j in itertools.product(range(len(pos)), repeat=2):
            if i == j and not any(shift) and not self_interaction:
                continue
            if np.linalg.norm(pos[j] - pos[i] + offset) < cutoff:
                pairs.add((i, j) + tuple(np.round(offset, 6) + 0.0))
    return pairs


def as_set(i, j, offsets):
    return {(a, b) + tuple(np.round(o, 6) + 0.0) for a, b, o in zip(i.tolist(), j.tolist(), offsets)}


def random_positions(rng, cell, n, spread=(-0.3, 1.3)):
    return rng.uniform(*spread, size=(n, 3)) @ np.asarray(cell, float)


TRICLINIC = np.array([[2.9, 0.0, 0.0], [0.8, 2.6, 0.0], [-0.5, 0.4, 3.1]])


@pytest.mark.parametrize("cell,pbc,n,cutoff", [
    (np.eye(3) * 1.5, True, 1, 4.0),                   # one atom, cutoff far beyond the box
    (TRICLINIC * 0.6, True, 2, 3.5),                   # two atoms, tiny triclinic cell
    (TRICLINIC, True, 12, 2.5),
    (TRICLINIC, True, 6, 5.0),                         # cutoff > box: many images of the same j
    (np.diag([3.0, 4.0, 5.0]), True, 10, 3.1),
    (TRICLINIC, (True, True, False), 8, 3.2),          # slab
    (np.array([[2.5, 0, 0], [0.4, 2.2, 0], [0, 0, 0]]), (True, True, False), 5, 3.0),  # slab, no c vector
    (TRICLINIC, (False, True, False), 6, 4.0),         # wire
])
def test_matches_brute_force(cell, pbc, n, cutoff):
    rng = np.random.default_rng(n)
    pos = random_positions(rng, cell + np.diag([0, 0, 3.0]) * (cell[2, 2] == 0), n)
    i, j, offsets = neighbor_pairs(pos, cell, pbc, cutoff)
    assert i.dtype == np.int32 and j.dtype == np.int32 and offsets.dtype == np.float64
    assert offsets.shape == (len(i), 3)
    assert as_set(i, j, offsets) == brute_force(pos, cell, pbc, cutoff)
    assert len(as_set(i, j, offsets)) == len(i)                  # no duplicates
    d = np.linalg.norm(pos[j] - pos[i] + offsets, axis=1)
    assert d.max() < cutoff
    order = np.lexsort((j, i))
    np.testing.assert_array_equal(order, np.arange(len(i)))     # sorted by i, then j


@pytest.mark.parametrize("cell", [None, np.zeros((3, 3)), np.eye(3) * 2.0])
def test_molecule(cell):
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 4, (20, 3))
    i, j, offsets = neighbor_pairs(pos, cell, False, 2.5)
    assert not offsets.any()
    assert as_set(i, j, offsets) == brute_force(pos, None, False, 2.5)
    # a cutoff larger than the molecule gives every ordered pair
    i, j, _ = neighbor_pairs(pos, cell, False, 100.0)
    assert len(i) == 20 * 19
    assert {(a, b) for a, b in zip(i, j)} == {(a, b) for a in range(20) for b in range(20) if a != b}


def test_symmetric_both_directions():
    rng = np.random.default_rng(3)
    pos = random_positions(rng, TRICLINIC, 7)
    i, j, offsets = neighbor_pairs(pos, TRICLINIC, True, 3.0)
    forward = as_set(i, j, offsets)
    assert {(b, a) + tuple(np.round(-np.array(o), 6) + 0.0) for a, b, *o in forward} == forward


def test_sort_order_fallback_for_huge_keys():
    """The single int64 sort key and the lexsort fallback (n^2 * shift spans >= 2^62) agree."""
    rng = np.random.default_rng(5)
    i, j = rng.integers(0, 50, 500), rng.integers(0, 50, 500)
    shifts = rng.integers(-3, 4, (500, 3))
    keep = np.unique(np.column_stack([i, j, shifts]), axis=0, return_index=True)[1]
    i, j, shifts = i[keep], j[keep], shifts[keep]
    small = _sort_order(i, j, shifts, 50)
    huge = _sort_order(i, j, shifts, 2 ** 31)
    np.testing.assert_array_equal(small, huge)
    np.testing.assert_array_equal(small, np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], j, i)))


def test_self_interaction():
    pos = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    i, j, offsets = neighbor_pairs(pos, None, False, 1.5, self_interaction=True)
    assert list(zip(i, j)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert not offsets.any()


def test_lengths_as_cell():
    rng = np.random.default_rng(4)
    pos = random_positions(rng, np.diag([3.0, 3.5, 4.0]), 5)
    a = neighbor_pairs(pos, [3.0, 3.5, 4.0], True, 3.0)
    b = neighbor_pairs(pos, np.diag([3.0, 3.5, 4.0]), True, 3.0)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("kwargs,match", [
    (dict(positions=[[0.0, np.nan, 0.0]]), "NaN or infinite"),
    (dict(positions=[[0.0, 0.0]]), "last dimension 3"),
    (dict(positions=np.zeros((0, 3))), "empty"),
    (dict(cutoff=0.0), "cutoff"),
    (dict(cutoff=-1.0), "cutoff"),
    (dict(cutoff=np.inf), "cutoff"),
    (dict(cell=np.zeros((3, 3)), pbc=True), "linearly dependent"),
    (dict(cell=[[3, 0, 0], [6, 0, 0], [0, 0, 3]], pbc=True), "linearly dependent"),
    (dict(cell=[[3, 0, 0], [0, np.inf, 0], [0, 0, 3]]), "NaN or infinite"),
    (dict(cell=np.eye(2)), r"\(3, 3\)"),
    (dict(pbc=(True, False)), "pbc"),
])
def test_bad_input(kwargs, match):
    args = dict(positions=[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], cell=np.eye(3) * 3, pbc=True, cutoff=2.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        neighbor_pairs(**args)


FLAT_SPARSE = """
import sys
import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list
from tfatoms.representations.neighbors import neighbor_list

n, cutoff, side, pbc = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), eval(sys.argv[4])
pos = np.random.default_rng(0).random((n, 3)) * [side, side, 1.0]
cell = np.diag([side, side, 5.0])
i, j, s = neighbor_list(pos, cell, pbc, cutoff)
a, b, t = ase_neighbor_list("ijS", Atoms(numbers=[6] * n, positions=pos, cell=cell, pbc=pbc), cutoff)
assert sorted(zip(i, j, map(tuple, s))) == sorted(zip(a, b, map(tuple, t)))
print(len(i))
"""


@pytest.mark.parametrize("n,cutoff,side,pbc", [
    (1000, 3.0, 1000.0, [True, True, False]),    # a flat sparse sheet, non-periodic normal
    (1000, 3.0, 1000.0, [True, True, True]),     # the same in a thin periodic box
    (1000, 3.0, 1000.0, [False, False, False]),  # a flat sparse cluster
    (20000, 0.1, 650.0, [True, True, False]),    # a tiny cutoff on a large sheet
])
def test_flat_sparse_structures_do_not_crash_the_search(n, cutoff, side, pbc, tmp_path):
    """vesin 0.6.2 kills the process (SIGFPE) on these when handed the box as it is (measured); the search
    gives it a box periodic along every axis with vacuum as long as the longest side. Run in a subprocess so
    a crash is a failed test, and compared with ASE's neighbour list."""
    import subprocess
    import sys

    script = tmp_path / "flat.py"
    script.write_text(FLAT_SPARSE)
    run = subprocess.run([sys.executable, str(script), str(n), str(cutoff), str(side), repr(pbc)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
