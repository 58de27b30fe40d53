"""Atomistic batches built from ase.Atoms."""
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from tfatoms import keys
from tfatoms.representations.batch import build_batch
from tfatoms.representations.neighbors import neighbor_pairs


def test_molecule_all_pairs():
    water = molecule("H2O")
    batch = build_batch(water)
    n = len(water)
    assert len(batch[keys.IDX_I]) == n * (n - 1)
    assert {(i, j) for i, j in zip(batch[keys.IDX_I], batch[keys.IDX_J])} == \
        {(i, j) for i in range(n) for j in range(n) if i != j}
    assert not batch[keys.OFFSETS].any()
    np.testing.assert_array_equal(batch[keys.ATOMIC_NUMBERS], [8, 1, 1])
    np.testing.assert_allclose(batch[keys.POSITIONS], water.positions, rtol=1e-6)
    assert batch[keys.CELL].shape == (1, 3, 3) and batch[keys.PBC].shape == (1, 3)
    np.testing.assert_array_equal(batch[keys.N_ATOMS], [3])
    np.testing.assert_array_equal(batch[keys.STRUCTURE_INDEX], [0, 0, 0])


def test_dtypes_and_keys():
    batch = build_batch([molecule("CH4")], dtype=np.float64)
    assert set(batch) == {keys.ATOMIC_NUMBERS, keys.POSITIONS, keys.CELL, keys.PBC, keys.STRUCTURE_INDEX,
                          keys.N_ATOMS, keys.IDX_I, keys.IDX_J, keys.OFFSETS}
    for k in (keys.ATOMIC_NUMBERS, keys.STRUCTURE_INDEX, keys.N_ATOMS, keys.IDX_I, keys.IDX_J):
        assert batch[k].dtype == np.int32, k
    for k in (keys.POSITIONS, keys.CELL, keys.OFFSETS):
        assert batch[k].dtype == np.float64, k
    assert batch[keys.PBC].dtype == bool
    assert build_batch(molecule("CH4"))[keys.POSITIONS].dtype == np.float32


def test_global_indices_of_two_structures():
    a, b = molecule("H2O"), molecule("NH3")
    batch = build_batch([a, b])
    np.testing.assert_array_equal(batch[keys.N_ATOMS], [3, 4])
    np.testing.assert_array_equal(batch[keys.STRUCTURE_INDEX], [0, 0, 0, 1, 1, 1, 1])
    i, j, s = batch[keys.IDX_I], batch[keys.IDX_J], batch[keys.STRUCTURE_INDEX]
    assert len(i) == 3 * 2 + 4 * 3
    np.testing.assert_array_equal(s[i], s[j])              # pairs never cross structures
    second = i >= 3
    assert {(x, y) for x, y in zip(i[second], j[second])} == \
        {(x, y) for x in range(3, 7) for y in range(3, 7) if x != y}
    # the pair vectors of the second structure are those of NH3 on its own
    pos = batch[keys.POSITIONS]
    alone = build_batch(b)
    np.testing.assert_allclose(pos[j[second]] - pos[i[second]],
                               alone[keys.POSITIONS][alone[keys.IDX_J]] - alone[keys.POSITIONS][alone[keys.IDX_I]])


def test_periodic_pairs_equal_neighbor_pairs():
    si = bulk("Si", "diamond", a=5.43) * (2, 1, 1)
    si.rattle(0.05, seed=0)
    h2o = molecule("H2O")
    batch = build_batch([h2o, si], cutoff=3.0, dtype=np.float64)
    i, j, offsets = neighbor_pairs(si.positions, si.cell[:], si.pbc, 3.0)
    sel = batch[keys.STRUCTURE_INDEX][batch[keys.IDX_I]] == 1
    np.testing.assert_array_equal(batch[keys.IDX_I][sel], i + 3)
    np.testing.assert_array_equal(batch[keys.IDX_J][sel], j + 3)
    np.testing.assert_allclose(batch[keys.OFFSETS][sel], offsets)
    np.testing.assert_array_equal(batch[keys.PBC], [[False] * 3, [True] * 3])
    np.testing.assert_allclose(batch[keys.CELL][1], si.cell[:])
    # every Si has 4 neighbours at ~2.35 A within 3 A
    np.testing.assert_array_equal(np.bincount(i), [4] * len(si))


def test_periodic_without_cutoff_raises():
    with pytest.raises(ValueError, match="structure 1 is periodic"):
        build_batch([molecule("H2O"), bulk("Cu")])


@pytest.mark.parametrize("bad,match", [
    (Atoms(), "structure 1.*empty"),
    (Atoms("H2", positions=[[0, 0, 0], [np.nan, 0, 0]]), "structure 1.*NaN"),
    (Atoms("H2", positions=[[0, 0, 0], [0, 0, 1e-8]]), "structure 1: atoms 0 and 1 are on top of each other"),
    (Atoms(numbers=[0, 1], positions=[[0, 0, 0], [1, 0, 0]]), "unknown element.*structure 1"),
    ("not atoms", "structure 1 is not an ase.Atoms"),
])
def test_bad_structures(bad, match):
    with pytest.raises(ValueError, match=match):
        build_batch([molecule("H2O"), bad])


def test_overlap_with_periodic_image_detected():
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [3.0, 0.0, 0.0]], cell=[3.0, 3.0, 3.0], pbc=True)
    with pytest.raises(ValueError, match="structure 0: atoms 0 and 1"):
        build_batch(atoms, cutoff=2.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        build_batch([])
    with pytest.raises(ValueError, match="cutoff"):
        build_batch(molecule("H2O"), cutoff=-1.0)
