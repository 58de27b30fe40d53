"""MoleculeBatches checks its input by the rules of build_batch (atomic numbers, positions, dtype, targets),
centres molecules before the float32 cast, and SchNet/DTNN refuse elements beyond their max_z with a
message naming the element instead of a TensorFlow gather error."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from ase import Atoms
from ase.build import molecule

from tfatoms import keys
from tfatoms.models import DTNN, Potential, SchNet
from tfatoms.representations import build_batch
from tfatoms.representations.padded import MoleculeBatches


def _two_molecules(z2=(8, 1, 1)):
    """H2 then a water-like molecule, flat arrays."""
    z = np.array([1, 1, *z2])
    pos = np.array([[0, 0, 0], [0.74, 0, 0], [0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], float)
    return z, pos, np.array([0, 2, 5])


@pytest.mark.parametrize("bad,match", [
    (0, r"atomic numbers of molecule 1\[0\] = 0 is not in 1..118"),      # the padding element
    (6.7, r"atomic numbers of molecule 1 must be integers"),              # not truncated to 6
    (119, r"atomic numbers of molecule 1\[0\] = 119"),
    (-3, r"atomic numbers of molecule 1\[0\] = -3"),
])
def test_atomic_numbers_checked_like_build_batch(bad, match):
    z, pos, offsets = _two_molecules()
    z = z.astype(float if isinstance(bad, float) else int)
    z[2] = bad
    with pytest.raises(ValueError, match=match):
        MoleculeBatches(z, pos, offsets)


def test_max_z_of_the_model_checked_by_the_batches_and_the_trainer():
    z, pos, offsets = _two_molecules(z2=(105, 1, 1))
    MoleculeBatches(z, pos, offsets)  # Db is an element: fine without a model limit
    with pytest.raises(ValueError, match=r"molecule 1, atom 0: element Db \(Z = 105\) is beyond the model's "
                                         r"max_z = 100"):
        MoleculeBatches(z, pos, offsets, max_z=100)
    from tfatoms.train.trainer import BatchTrainer

    data = MoleculeBatches(z, pos, offsets)
    trainer = BatchTrainer(SchNet(n_features=8, n_interactions=1, rbf_cutoff=6.0), jit_compile=True)
    with pytest.raises(ValueError, match=r"element Db \(Z = 105\) is beyond SchNet's max_z = 100"):
        trainer.predict(data)


@pytest.mark.parametrize("model_cls", [SchNet, DTNN])
def test_model_names_element_beyond_max_z(model_cls):
    batch = build_batch(Atoms(numbers=[1, 105], positions=[[0, 0, 0], [1.5, 0, 0]]))
    model = model_cls(n_features=8, n_interactions=1)
    with pytest.raises(ValueError, match=rf"element Db \(Z = 105\) is beyond {model_cls.__name__}'s max_z = 100"):
        model(batch)
    with pytest.raises(ValueError, match="max_z = 100"):
        Potential(model)(batch)
    graph = tf.function(lambda b: model(b))  # traced: an assertion with the same message
    with pytest.raises(tf.errors.InvalidArgumentError, match="beyond .*max_z = 100"):
        graph(batch)
    big = model_cls(n_features=8, n_interactions=1, max_z=118)
    assert np.all(np.isfinite(np.asarray(big(batch))))


def test_positions_dtype_and_targets_checked():
    z, pos, offsets = _two_molecules()
    with pytest.raises(ValueError, match="positions must be numbers"):
        MoleculeBatches(z, pos.astype(str).astype(object) + "x", offsets)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        MoleculeBatches(z, pos, offsets, dtype=np.int32)
    with pytest.raises(ValueError, match=r"targets contains NaN or infinite values \(first at index \(1,\)\)"):
        MoleculeBatches(z, pos, offsets, targets=[0.0, np.nan])
    with pytest.raises(ValueError, match="cutoff"):
        MoleculeBatches(z, pos, offsets, cutoff=-1.0)


def test_far_molecules_centred_before_the_cast():
    """A molecule at 1e8 A gives the same padded batch as at the origin (and its atoms stay apart)."""
    z, pos, offsets = _two_molecules()
    near = MoleculeBatches(z, pos, offsets, batch_size=2)
    far_pos = pos.copy()
    far_pos[:2] += [1e8, 0, 0]
    far_pos[2:] += [-3e5, 2e5, 1e5]
    far = MoleculeBatches(z, far_pos, offsets, batch_size=2)
    a, b = near.collate([0, 1])[0], far.collate([0, 1])[0]
    assert b[keys.POSITIONS].dtype == np.float32
    np.testing.assert_allclose(b[keys.POSITIONS], a[keys.POSITIONS], atol=1e-6)
    keras.utils.set_random_seed(0)
    model = SchNet(n_features=8, n_interactions=1, rbf_cutoff=6.0)
    np.testing.assert_allclose(np.asarray(model(b)), np.asarray(model(a)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"molecule 0: atom 0 lies 5e\+06 A from the molecule's centre; "
                                         r".* cannot be represented"):
        MoleculeBatches(z, np.vstack([[0, 0, 0], [1e7, 0, 0], pos[2:]]), offsets)


def test_padded_batch_energy_equals_build_batch_for_a_far_molecule():
    ethanol = molecule("CH3CH2OH")
    moved = ethanol.copy()
    moved.positions += 1e5
    keras.utils.set_random_seed(1)
    model = SchNet(n_features=8, n_interactions=1, rbf_cutoff=6.0)
    data = MoleculeBatches(moved.numbers, moved.positions, [0, len(moved)], batch_size=1)
    e_padded = float(np.asarray(model(data.collate([0])[0]))[0])
    e_ref = float(np.asarray(model(build_batch(ethanol)))[0])
    assert abs(e_padded - e_ref) < 1e-5
