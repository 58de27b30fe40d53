"""One filter per pair couple: the batches' PAIR_HALF / PAIR_INVERSE (d_ij = d_ji) let SchNet evaluate its
filter-generating networks on half the pairs; energies, forces and stress equal the every-pair evaluation."""
import ase
import numpy as np
import pytest
import tensorflow as tf
from ase.build import bulk, molecule

from tfatoms import keys
from tfatoms.models import DTNN, Potential, SchNet
from tfatoms.representations import build_batch
from tfatoms.representations.padded import StructureBatches, reverse_pairs


def _structures():
    rng = np.random.default_rng(0)
    cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
    cu.positions += rng.normal(scale=0.05, size=cu.positions.shape)
    si = bulk("Si", "diamond", a=5.43)                       # 2 atoms: many images of each within the cutoff
    si.positions += rng.normal(scale=0.05, size=si.positions.shape)
    return [cu, si, molecule("CH3CH2OH"), ase.Atoms("H")]    # periodic, small periodic, molecule, no pairs


def test_reverse_of_every_pair_is_its_mirror_image():
    data = StructureBatches.from_atoms(_structures(), cutoff=5.0)
    rev = reverse_pairs(data._pair_i, data._pair_j, data._pair_shifts, data._pair_starts)
    k = np.arange(len(rev))
    assert np.all(rev >= 0) and np.all(rev[rev] == k) and np.all(rev != k)
    np.testing.assert_array_equal(data._pair_i[rev], data._pair_j)
    np.testing.assert_array_equal(data._pair_shifts[rev], -data._pair_shifts)
    # the structured-row fallback (keys too large for int64) finds the same reverses
    big = data._pair_i.astype(np.int64) + 2 ** 40, data._pair_j.astype(np.int64) + 2 ** 40
    np.testing.assert_array_equal(reverse_pairs(*big, data._pair_shifts, data._pair_starts), rev)
    # a pair without its mirror (a one-sided list) maps to -1
    one_sided = reverse_pairs([0, 1, 0], [1, 0, 2], np.zeros((3, 3), int), [0, 3])
    np.testing.assert_array_equal(one_sided, [1, 0, -1])


@pytest.mark.parametrize("pad", [True, False])
def test_every_pair_maps_to_a_couple_entry_of_equal_distance(pad):
    data = StructureBatches.from_atoms(_structures(), cutoff=5.0, batch_size=4)
    out = data.collate(np.arange(4), pad=pad)
    batch = out[0] if pad else out
    pos, cell = batch[keys.POSITIONS].astype(np.float64), batch[keys.CELL].astype(np.float64)
    i, j, s = batch[keys.IDX_I], batch[keys.IDX_J], batch[keys.CELL_SHIFTS]
    vec = pos[j] - pos[i] + np.einsum("pa,pab->pb", s, cell[batch[keys.STRUCTURE_INDEX][i]])
    d = np.linalg.norm(vec, axis=1)
    half, inverse = batch[keys.PAIR_HALF], batch[keys.PAIR_INVERSE]
    n_real = int(np.sum(data.n_pairs()))
    assert inverse.shape == i.shape and half.max() < len(i) and inverse.max() < len(half)
    np.testing.assert_allclose(d[half[inverse]], d, rtol=1e-6)
    counts = np.bincount(inverse[:n_real], minlength=len(half))
    assert n_real == 2 * (counts > 0).sum() and set(counts[counts > 0]) == {2}   # each couple, twice
    if pad:
        assert len(half) % (data.pair_bucket // 2) == 0 and len(half) > n_real // 2
        assert np.all(inverse[n_real:] == n_real // 2)                             # padding: one entry


def _model(kind, dtype):
    if kind == "DTNN":
        return DTNN(n_features=16, n_factors=24, n_interactions=2, rbf_cutoff=5.0, max_z=29, dtype=dtype)
    return SchNet(n_features=32, n_interactions=3, rbf_cutoff=5.0, cutoff=5.0, max_z=29, dtype=dtype)


@pytest.mark.parametrize("kind", ["SchNet", "DTNN"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_with_half_filters_equals_every_pair(dtype, kind):
    structures = _structures()
    batch = build_batch(structures, cutoff=5.0, dtype=np.dtype(dtype))
    full = {k: v for k, v in batch.items() if k not in (keys.PAIR_HALF, keys.PAIR_INVERSE)}
    model = _model(kind, dtype)
    potential = Potential(model, compute_forces=True, compute_stress=True)
    a = potential({k: tf.constant(v) for k, v in batch.items()})
    b = potential({k: tf.constant(v) for k, v in full.items()})
    tol = dict(float32=dict(rtol=2e-5, atol=2e-5), float64=dict(rtol=1e-12, atol=1e-12))[dtype]
    for k in (keys.ENERGY, keys.FORCES):
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), **tol, err_msg=k)
    # stress of the two periodic cells (the molecule's and the lone atom's have no volume)
    np.testing.assert_allclose(a[keys.STRESS].numpy()[:2], b[keys.STRESS].numpy()[:2], **tol)
    assert np.abs(a[keys.FORCES].numpy()).max() > 1e-3          # forces are not trivially zero


def test_training_gradients_with_half_filters_equal_every_pair():
    structures = _structures()[:3]
    data = StructureBatches.from_atoms(structures, cutoff=5.0, batch_size=3, dtype=np.float64)
    batch = {k: tf.constant(v) for k, v in data.collate(np.arange(3))[0].items()}
    full = {k: v for k, v in batch.items() if k not in (keys.PAIR_HALF, keys.PAIR_INVERSE)}
    model = SchNet(n_features=16, n_interactions=2, rbf_cutoff=5.0, cutoff=5.0, max_z=29, dtype="float64")
    potential = Potential(model, compute_forces=True)
    grads = []
    for b in (batch, full):
        with tf.GradientTape() as tape:
            out = potential(b, training=True)
            loss = tf.reduce_sum(out[keys.ENERGY] ** 2) + tf.reduce_sum(out[keys.FORCES] ** 2)
        grads.append([tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, model.trainable_variables)])
    for g_half, g_full in zip(*grads):
        np.testing.assert_allclose(g_half, g_full, rtol=1e-10, atol=1e-12)


def test_canonical_pairs_in_chunks_equal_one_pass(monkeypatch):
    """Large datasets are paired in chunks of whole structures; any chunk size gives the same couples."""
    import tfatoms.representations.padded as padded

    structures = _structures() * 3
    one = StructureBatches.from_atoms(structures, cutoff=5.0)._canonical_pairs()
    monkeypatch.setattr(padded, "CANONICAL_CHUNK_PAIRS", 50)          # smaller than one structure's pairs
    chunked = StructureBatches.from_atoms(structures, cutoff=5.0)._canonical_pairs()
    np.testing.assert_array_equal(chunked, one)
    monkeypatch.setattr(padded, "CANONICAL_CHUNK_PAIRS", 2000)
    np.testing.assert_array_equal(StructureBatches.from_atoms(structures, cutoff=5.0)._canonical_pairs(), one)


def test_calculator_couples_survive_its_cutoff_filter():
    """The ASE calculator finds the couples once per neighbour search (cutoff + skin) and renumbers them after
    dropping the pairs beyond the cutoff at each step: every kept pair maps to a kept mirror of equal distance."""
    from tfatoms.calculators import TfatomsCalculator

    cu = _structures()[0]
    model = SchNet(n_features=16, n_interactions=1, rbf_cutoff=4.0, cutoff=4.0, max_z=29)
    calc = TfatomsCalculator(model, skin=1.0)
    batch, _ = calc._batch(cu)
    assert calc._pairs.idx_i.size > batch[keys.IDX_I].size          # the skin's extra pairs were dropped
    pos, cell = batch[keys.POSITIONS].astype(np.float64), batch[keys.CELL][0].astype(np.float64)
    i, j, s = batch[keys.IDX_I], batch[keys.IDX_J], batch[keys.CELL_SHIFTS]
    d = np.linalg.norm(pos[j] - pos[i] + s @ cell, axis=1)
    half, inverse = batch[keys.PAIR_HALF], batch[keys.PAIR_INVERSE]
    np.testing.assert_array_equal(d[half[inverse]], d)
    np.testing.assert_array_equal(np.bincount(inverse), np.full(len(half), 2))
    # the calculator's energy and forces equal the model on the every-pair batch
    full = {k: v for k, v in batch.items() if k not in (keys.PAIR_HALF, keys.PAIR_INVERSE)}
    out = Potential(model, compute_forces=True)({k: tf.constant(v) for k, v in full.items()})
    cu.calc = calc
    np.testing.assert_allclose(cu.get_potential_energy(), float(out[keys.ENERGY][0]), rtol=1e-5)
    np.testing.assert_allclose(cu.get_forces(), out[keys.FORCES].numpy(), rtol=1e-4, atol=1e-5)
