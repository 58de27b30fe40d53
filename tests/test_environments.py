"""N-nearest-neighbour environments (local force DNN input) against brute force over periodic images."""
import itertools

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from tfatoms.representations.environments import environment_features, nearest_neighbors


def brute_force(atoms, n, reach=3):
    """Every image of every atom within ``reach`` cells, the atom itself at zero shift excluded, sorted."""
    pos, cell = atoms.positions, atoms.cell[:]
    ranges = [range(-reach, reach + 1) if p else [0] for p in atoms.pbc]
    shifts = np.array(list(itertools.product(*ranges)))
    out = []
    for i in range(len(atoms)):
        cands = []
        for j in range(len(atoms)):
            for s in shifts:
                if j == i and not s.any():
                    continue
                d = pos[j] + s @ cell - pos[i]
                cands.append((np.linalg.norm(d), j, tuple(s), d))
        cands.sort(key=lambda c: c[0])
        out.append(cands[:n])
    return out


@pytest.mark.parametrize("name,atoms,n", [
    ("Si 8-atom cell, N = 30 (images of the atom itself)", bulk("Si", "diamond", a=5.43, cubic=True), 30),
    ("Si 2-atom primitive (triclinic), N = 16", bulk("Si", "diamond", a=5.43), 16),
    ("Al 4-atom fcc, N = 12", bulk("Al", "fcc", a=4.05, cubic=True), 12),
    ("Na 2-atom bcc, N = 24", bulk("Na", "bcc", a=4.29, cubic=True), 24),
])
def test_neighbours_equal_brute_force_over_images(name, atoms, n):
    atoms = atoms.copy()
    atoms.rattle(0.05, seed=7)          # no ties in distance
    j, vectors, shifts = nearest_neighbors(atoms.positions, atoms.cell[:], atoms.pbc, n)
    expected = brute_force(atoms, n + 1)
    for i in range(len(atoms)):
        dist = np.linalg.norm(vectors[i], axis=1)
        np.testing.assert_allclose(dist, [c[0] for c in expected[i][:n]], atol=1e-12)
        # the same images, up to the order within ties (an atom's own images at +S and -S are equally far);
        # a tie across the N-th place may pick either image, so compare the neighbours nearer than the N-th
        nearer = expected[i][n - 1][0] - 1e-9
        ours = sorted((round(float(d), 9), int(a), tuple(b)) for d, a, b in zip(dist, j[i], shifts[i]) if d < nearer)
        theirs = sorted((round(c[0], 9), c[1], c[2]) for c in expected[i] if c[0] < nearer)
        assert ours == theirs
        if expected[i][n][0] - expected[i][n - 1][0] > 1e-9:      # no tie at the boundary: the full set agrees
            assert sorted((int(a), tuple(b)) for a, b in zip(j[i], shifts[i])) == \
                sorted((c[1], c[2]) for c in expected[i][:n])
        for a, b, v in zip(j[i], shifts[i], vectors[i]):            # each vector is its image's
            np.testing.assert_allclose(v, atoms.positions[a] + b @ atoms.cell[:] - atoms.positions[i], atol=1e-12)
    assert np.all(np.diff(np.linalg.norm(vectors, axis=-1), axis=1) >= 0)


def test_features_are_z_vector_and_inverse_distance():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.02, seed=1)
    f = environment_features(atoms.numbers, atoms.positions, atoms.cell[:], True, 4, dtype=np.float64)
    assert f.shape == (8, 4, 5)
    np.testing.assert_array_equal(f[..., 0], 14)
    np.testing.assert_allclose(f[..., 4], 1 / np.linalg.norm(f[..., 1:4], axis=-1))
    # diamond: 4 neighbours at ~2.35 A
    np.testing.assert_allclose(1 / f[..., 4], 5.43 * np.sqrt(3) / 4, atol=0.1)


def test_translation_and_permutation():
    atoms = bulk("Al", "fcc", a=4.05, cubic=True) * (2, 1, 1)
    atoms.rattle(0.05, seed=2)
    f = environment_features(atoms.numbers, atoms.positions, atoms.cell[:], True, 12)
    moved = atoms.positions + [0.7, -3.1, 12.0]
    np.testing.assert_allclose(environment_features(atoms.numbers, moved, atoms.cell[:], True, 12), f, atol=1e-5)
    perm = np.random.default_rng(0).permutation(len(atoms))
    np.testing.assert_allclose(environment_features(atoms.numbers[perm], atoms.positions[perm], atoms.cell[:], True,
                                                    12), f[perm], atol=1e-6)


def test_molecule_and_errors():
    h2o = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    j, v, _ = nearest_neighbors(h2o.positions, None, False, 2)
    assert j.shape == (3, 2)
    with pytest.raises(ValueError, match="not periodic and has 3 atoms: each atom has only 2 neighbours"):
        nearest_neighbors(h2o.positions, None, False, 3)
    si = bulk("Si", "diamond", a=5.43)
    with pytest.raises(ValueError, match="within 30 A; an environment that large is not local"):
        nearest_neighbors(si.positions, si.cell[:], True, 100000)
    with pytest.raises(ValueError, match="NaN"):
        nearest_neighbors([[0, 0, 0], [np.nan, 0, 0]], np.eye(3) * 5, True, 2)
    with pytest.raises(ValueError, match="atoms 0 and 1 are on top of each other"):
        nearest_neighbors([[0, 0, 0], [0, 0, 0]], np.eye(3) * 5, True, 2)
