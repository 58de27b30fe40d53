"""Atomistic batches built from ase.Atoms."""
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from tfatoms import keys
from tfatoms.representations.batch import build_batch
from tfatoms.representations.neighbors import neighbor_list, neighbor_pairs


def offsets_of(batch):
    """Cartesian offsets ``S @ cell`` of each pair, in NumPy (what the model computes inside)."""
    cell = batch[keys.CELL][batch[keys.STRUCTURE_INDEX][batch[keys.IDX_I]]]
    return np.einsum("pa,pab->pb", batch[keys.CELL_SHIFTS].astype(np.float64), cell)


def test_molecule_all_pairs():
    water = molecule("H2O")
    batch = build_batch(water)
    n = len(water)
    assert len(batch[keys.IDX_I]) == n * (n - 1)
    assert {(i, j) for i, j in zip(batch[keys.IDX_I], batch[keys.IDX_J])} == \
        {(i, j) for i in range(n) for j in range(n) if i != j}
    assert not batch[keys.CELL_SHIFTS].any()
    np.testing.assert_array_equal(batch[keys.ATOMIC_NUMBERS], [8, 1, 1])
    # a molecule is centred on its centroid (exact: energies and forces are translation invariant)
    np.testing.assert_allclose(batch[keys.POSITIONS], water.positions - water.positions.mean(axis=0), atol=1e-7)
    assert batch[keys.CELL].shape == (1, 3, 3) and batch[keys.PBC].shape == (1, 3)
    np.testing.assert_array_equal(batch[keys.N_ATOMS], [3])
    np.testing.assert_array_equal(batch[keys.STRUCTURE_INDEX], [0, 0, 0])


def test_dtypes_and_keys():
    batch = build_batch([molecule("CH4")], dtype=np.float64)
    assert set(batch) == {keys.ATOMIC_NUMBERS, keys.POSITIONS, keys.CELL, keys.PBC, keys.STRUCTURE_INDEX,
                          keys.N_ATOMS, keys.IDX_I, keys.IDX_J, keys.CELL_SHIFTS, keys.PAIR_HALF, keys.PAIR_INVERSE}
    for k in (keys.ATOMIC_NUMBERS, keys.STRUCTURE_INDEX, keys.N_ATOMS, keys.IDX_I, keys.IDX_J, keys.CELL_SHIFTS,
              keys.PAIR_HALF, keys.PAIR_INVERSE):
        assert batch[k].dtype == np.int32, k
    for k in (keys.POSITIONS, keys.CELL):
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
    si.wrap()  # build_batch wraps periodic structures into the cell
    h2o = molecule("H2O")
    batch = build_batch([h2o, si], cutoff=3.0, dtype=np.float64)
    i, j, offsets = neighbor_pairs(si.positions, si.cell[:], si.pbc, 3.0)
    sel = batch[keys.STRUCTURE_INDEX][batch[keys.IDX_I]] == 1
    np.testing.assert_array_equal(batch[keys.IDX_I][sel], i + 3)
    np.testing.assert_array_equal(batch[keys.IDX_J][sel], j + 3)
    np.testing.assert_allclose(offsets_of(batch)[sel], offsets)
    _, _, shifts = neighbor_list(si.positions, si.cell[:], si.pbc, 3.0)
    np.testing.assert_array_equal(batch[keys.CELL_SHIFTS][sel], shifts)     # the integer shifts themselves
    np.testing.assert_allclose(batch[keys.POSITIONS][3:], si.positions)
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


def test_bad_dtype_and_non_numeric_positions():
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        build_batch(molecule("H2O"), dtype=np.int32)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        build_batch(molecule("H2O"), dtype="float16")

    class StringAtoms:  # duck-typed structure whose positions are text
        def get_positions(self):
            return np.array([["a", "b", "c"], ["0", "0", "1"]])

        def get_atomic_numbers(self):
            return np.array([1, 1])

        def get_cell(self):
            return np.zeros((3, 3))

        def get_pbc(self):
            return np.zeros(3, bool)

    with pytest.raises(ValueError, match="positions of structure 0 must be numbers"):
        build_batch([StringAtoms()])


def _far_h2(x):
    return Atoms("H2", positions=[[x, 0, 0], [x + 0.3, 0, 0]])


def test_far_from_origin_molecule_is_centred_before_the_float32_cast():
    """H2 0.3 A long at x = 1e8 A: float32 would merge the atoms (NaN forces); centring keeps it exact."""
    near, far = build_batch(_far_h2(0.0)), build_batch(_far_h2(1e8))
    assert far[keys.POSITIONS].dtype == np.float32
    np.testing.assert_allclose(far[keys.POSITIONS], near[keys.POSITIONS], atol=1e-6)
    d = np.linalg.norm(far[keys.POSITIONS][1] - far[keys.POSITIONS][0])
    assert abs(d - 0.3) < 1e-6


def test_far_molecule_gives_same_energy_and_forces():
    from tfatoms.models import Potential, SchNet
    import keras

    keras.utils.set_random_seed(0)
    potential = Potential(SchNet(n_features=8, n_interactions=1, rbf_cutoff=6.0))
    near, far = potential(build_batch(_far_h2(0.0))), potential(build_batch(_far_h2(1e8)))
    f_near, f_far = np.asarray(near[keys.FORCES]), np.asarray(far[keys.FORCES])
    assert np.all(np.isfinite(f_far)) and np.abs(f_near).max() > 1e-4
    np.testing.assert_allclose(f_far, f_near, rtol=1e-5, atol=1e-7)
    ethanol = molecule("CH3CH2OH")
    moved = ethanol.copy()
    moved.positions += [1e5, -3e4, 2e4]
    e0 = float(potential(build_batch(ethanol))[keys.ENERGY][0])
    e1 = float(potential(build_batch(moved))[keys.ENERGY][0])
    assert abs(e1 - e0) < 1e-5, (e0, e1)


def test_periodic_structure_far_from_cell_is_wrapped():
    atoms = bulk("Si", "diamond", a=5.43)
    far = atoms.copy()
    far.positions += np.array([3e5, 7e5, -2e5]) @ np.eye(3) + atoms.cell[0] * 1e5
    a, b = build_batch(atoms, cutoff=3.0), build_batch(far, cutoff=3.0)
    assert np.abs(b[keys.POSITIONS]).max() < 10
    d_a = np.sort(np.linalg.norm(a[keys.POSITIONS][a[keys.IDX_J]] - a[keys.POSITIONS][a[keys.IDX_I]]
                                 + offsets_of(a), axis=1))
    d_b = np.sort(np.linalg.norm(b[keys.POSITIONS][b[keys.IDX_J]] - b[keys.POSITIONS][b[keys.IDX_I]]
                                 + offsets_of(b), axis=1))
    np.testing.assert_allclose(d_b, d_a, atol=1e-4)


def test_coordinates_too_large_to_represent_are_refused():
    spread = Atoms("H2", positions=[[0, 0, 0], [1e7, 0, 0]])   # 1e7 A long even after centring
    with pytest.raises(ValueError, match="structure 0: atom 0 lies 5e\\+06 A .* cannot be represented"):
        build_batch(spread)
    big_cell = Atoms("H", positions=[[0, 0, 0]], cell=[2e6, 2e6, 2e6], pbc=True)
    with pytest.raises(ValueError, match="periodic cell vectors longer than"):
        build_batch(big_cell, cutoff=3.0)


def test_overlap_check_sees_the_float32_values():
    """Two atoms 1e-5 A apart are distinct in float64 but 1e-5 A is below float32's resolution at 200 A:
    built in float32 they are refused, in float64 accepted (their distance is what the model sees)."""
    pair = Atoms("H3", positions=[[0, 0, 0], [600.0, 0, 0], [600.0 + 1e-5, 0, 0]])
    build_batch(pair, dtype=np.float64)
    with pytest.raises(ValueError, match="atoms 1 and 2 are on top of each other"):
        build_batch(pair, dtype=np.float32)
