"""A small SchNet-style stack built from the layers: invariances, forces and stress by autodiff
against central finite differences in float64, and a .keras round trip of the Potential wrapper."""
import ase
import keras
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tfatoms import keys
from tfatoms.layers import AtomEmbedding, AtomwiseReadout, GaussianRBF, SchNetInteraction, shifted_softplus
from tfatoms.models import Potential
from tfatoms.models.base import AtomisticModel
from tfatoms.models.geometry import pair_vectors
from tfatoms.representations import build_batch


@keras.saving.register_keras_serializable(package="tfatoms_tests")
class TinySchNet(AtomisticModel):
    """Embedding -> 2 SchNet interactions -> atom-wise F -> F/2 (ssp) -> 1 -> sum (thesis Fig. 4.2)."""

    def __init__(self, n_features=8, cutoff=None, **kwargs):
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        dt = self.dtype_policy
        self.n_features, self.cutoff = n_features, cutoff
        self.embedding = AtomEmbedding(n_features, dtype=dt)
        self.rbf = GaussianRBF(cutoff=cutoff or 6.0, spacing=0.5, gamma=2.0, dtype=dt)
        self.interactions = [SchNetInteraction(n_features, n_features, cutoff=cutoff, dtype=dt) for _ in range(2)]
        self.hidden = keras.layers.Dense(n_features // 2, activation=shifted_softplus, dtype=dt)
        self.out = keras.layers.Dense(1, dtype=dt)
        self.readout = AtomwiseReadout("sum", dtype=dt)

    def call(self, batch, training=False):
        _, d = pair_vectors(batch)
        i, j = batch[keys.IDX_I], batch[keys.IDX_J]
        x = self.embedding(batch[keys.ATOMIC_NUMBERS])
        rbf = self.rbf(d)
        for block in self.interactions:
            x = block(x, rbf, d, i, j)
        e = self.out(self.hidden(x))
        return self.readout(e, batch[keys.STRUCTURE_INDEX], batch[keys.N_ATOMS])

    def get_config(self):
        config = super().get_config()
        config.update(n_features=self.n_features, cutoff=self.cutoff)
        return config


def molecule(rng, n=7):
    numbers = rng.choice([1, 6, 7, 8], size=n)
    positions = rng.uniform(0, 3.0, size=(n, 3))
    while min(np.linalg.norm(a - b) for k, a in enumerate(positions) for b in positions[k + 1:]) < 0.8:
        positions = rng.uniform(0, 3.0, size=(n, 3))
    return ase.Atoms(numbers=numbers, positions=positions)


def crystal(rng):
    cell = np.array([[3.2, 0.0, 0.0], [0.9, 3.0, 0.0], [0.4, 0.6, 3.4]])
    atoms = ase.Atoms(numbers=[6, 8, 1, 6], cell=cell, pbc=True,
                      scaled_positions=[[0, 0, 0], [0.5, 0.4, 0.3], [0.2, 0.7, 0.6], [0.7, 0.1, 0.8]])
    atoms.rattle(0.05, seed=int(rng.integers(1 << 30)))
    return atoms


def energy(model, atoms, cutoff=None):
    return float(model(build_batch([atoms], cutoff=cutoff, dtype=np.float64))[0, 0])


def test_energy_invariant_to_rotation_translation_permutation(rng):
    model = TinySchNet()
    atoms = molecule(rng)
    e0 = energy(model, atoms)
    moved = atoms.copy()
    moved.positions = moved.positions @ Rotation.random(random_state=3).as_matrix().T + [1.3, -2.0, 0.7]
    perm = rng.permutation(len(atoms))
    assert abs(e0) > 1e-3
    np.testing.assert_allclose(energy(model, moved), e0, rtol=1e-12)
    np.testing.assert_allclose(energy(model, atoms[perm]), e0, rtol=1e-12)


def test_periodic_energy_invariant_to_cell_choice(rng):
    """Wrapping atoms into the cell or changing the origin does not change the energy."""
    model = TinySchNet(cutoff=4.0)
    atoms = crystal(rng)
    shifted = atoms.copy()
    shifted.positions += [5.1, -3.3, 7.7]
    e0 = energy(model, atoms, 4.0)
    np.testing.assert_allclose(energy(model, shifted, 4.0), e0, rtol=1e-10)
    shifted.wrap()
    np.testing.assert_allclose(energy(model, shifted, 4.0), e0, rtol=1e-10)


def central_differences(model, batch, h=1e-5):
    positions = batch[keys.POSITIONS]
    grad = np.zeros_like(positions)
    for a in range(positions.shape[0]):
        for k in range(3):
            plus, minus = dict(batch), dict(batch)
            plus[keys.POSITIONS] = positions.copy()
            minus[keys.POSITIONS] = positions.copy()
            plus[keys.POSITIONS][a, k] += h
            minus[keys.POSITIONS][a, k] -= h
            grad[a, k] = (float(model(plus)[0, 0]) - float(model(minus)[0, 0])) / (2 * h)
    return -grad


@pytest.mark.parametrize("system,cutoff", [("molecule", None), ("crystal", 4.0)])
def test_forces_match_central_finite_differences(rng, system, cutoff):
    model = TinySchNet(cutoff=cutoff)
    atoms = molecule(rng) if system == "molecule" else crystal(rng)
    batch = build_batch([atoms], cutoff=cutoff, dtype=np.float64)
    forces = Potential(model)(batch)[keys.FORCES].numpy()
    reference = central_differences(model, batch)
    assert np.abs(forces).max() > 1e-3
    np.testing.assert_allclose(forces, reference, atol=1e-7, rtol=1e-6)
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-10)  # translation invariance


def test_stress_matches_finite_strain_differences(rng):
    cutoff = 4.0
    model = TinySchNet(cutoff=cutoff)
    atoms = crystal(rng)
    out = Potential(model, compute_stress=True)(build_batch([atoms], cutoff=cutoff, dtype=np.float64))
    stress = out[keys.STRESS].numpy()[0]
    h, volume = 1e-5, atoms.get_volume()
    reference = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            energies = []
            for sign in (1, -1):
                eps = np.zeros((3, 3))
                eps[a, b] += sign * h / 2
                eps[b, a] += sign * h / 2
                strained = atoms.copy()
                strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
                energies.append(energy(model, strained, cutoff))
            reference[a, b] = (energies[0] - energies[1]) / (2 * h) / volume
    assert np.abs(stress).max() > 1e-5
    np.testing.assert_allclose(stress, reference, atol=1e-8, rtol=1e-5)
    np.testing.assert_allclose(stress, stress.T, atol=1e-12)


def test_forces_cut_from_graph_at_inference_and_kept_in_training(rng):
    import tensorflow as tf
    model = TinySchNet()
    batch = build_batch([molecule(rng)], dtype=np.float64)
    potential = Potential(model)
    potential(batch)
    for training, connected in ((False, False), (True, True)):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(potential(batch, training=training)[keys.FORCES] ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        assert any(g is not None for g in grads) == connected


def test_potential_keras_round_trip(tmp_path, rng):
    model = Potential(TinySchNet(cutoff=4.0), compute_stress=True)
    batch = build_batch([crystal(rng), crystal(rng)], cutoff=4.0, dtype=np.float64)
    out = model(batch)
    model.save(tmp_path / "potential.keras")
    loaded = keras.models.load_model(tmp_path / "potential.keras")
    new = loaded(batch)
    for key in (keys.ENERGY, keys.FORCES, keys.STRESS):
        np.testing.assert_allclose(new[key].numpy(), out[key].numpy(), rtol=1e-12)
