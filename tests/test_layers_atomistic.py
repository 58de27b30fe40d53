"""Atomistic layers against NumPy transcriptions of the thesis equations (Schütt 2018).

The references below loop explicitly over atoms and pairs, so they check the
vectorised gather / segment-sum implementation and the weight layout of the
layers (weights are read with ``get_weights``). Everything runs in float64.
"""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfatoms import keys
from tfatoms.layers import (AtomEmbedding, AtomwiseReadout, CFConv, CosineCutoff, CReLU,
                            FactorizedTensorInteraction, GaussianRBF, SchNetInteraction,
                            ShiftedSoftplus, shifted_softplus)

LN2 = math.log(2.0)


# ----------------------------------------------------------------------------- reference maths
def np_ssp(x):
    """Thesis eq. 4.8, written literally (fine in float64 for |x| < ~700)."""
    return np.log(0.5 * np.exp(x) + 0.5)


def np_rbf(d, centres, gamma):
    return np.exp(-gamma * (np.asarray(d)[..., None] - centres) ** 2)


def cosine_cutoff_scalar(d, rc):
    return 0.5 * (math.cos(math.pi * d / rc) + 1.0) if d < rc else 0.0


def ref_cfconv(x, rbf, dist, idx_i, idx_j, weights, cutoff, last_activation, aggregation):
    """Eq. 4.5 / 4.14 with the 2-layer filter network, one pair at a time."""
    w0, b0, w1, b1 = weights
    act = np_ssp if last_activation == "ssp" else (lambda v: v)
    out = np.zeros_like(x)
    for i in range(len(x)):
        acc = np.zeros(x.shape[1])
        n_neighbours = 0
        for p in range(len(idx_i)):
            if idx_i[p] != i:
                continue
            filt = act(np_ssp(rbf[p] @ w0 + b0) @ w1 + b1)
            if cutoff is not None:
                filt = filt * cosine_cutoff_scalar(dist[p], cutoff)
            acc += x[idx_j[p]] * filt
            n_neighbours += 1
        if aggregation == "mean" and n_neighbours:
            acc /= n_neighbours
        out[i] = acc
    return out


def ref_schnet_interaction(x, rbf, dist, idx_i, idx_j, weights, cutoff, last_activation, aggregation):
    """Fig. 4.2 / eq. 4.7: x + Dense(ssp(Dense(cfconv(in2f(x)))))."""
    w_in2f, f0, fb0, f1, fb1, w_f2out, b_f2out, w_dense, b_dense = weights
    h = np.stack([x[i] @ w_in2f for i in range(len(x))])
    c = ref_cfconv(h, rbf, dist, idx_i, idx_j, (f0, fb0, f1, fb1), cutoff, last_activation, aggregation)
    out = np.empty_like(x)
    for i in range(len(x)):
        v = np_ssp(c[i] @ w_f2out + b_f2out) @ w_dense + b_dense
        out[i] = x[i] + v
    return out


def ref_tensor_interaction(x, rbf, idx_i, idx_j, weights):
    """Eq. 3.7 inside eq. 3.2."""
    w_fx, b_f1, w_fd, b_f2, w_xf = weights
    out = x.copy()
    for p in range(len(idx_i)):
        i, j = idx_i[p], idx_j[p]
        factors = (x[j] @ w_fx + b_f1) * (rbf[p] @ w_fd + b_f2)
        out[i] += np.tanh(factors @ w_xf)
    return out


# ----------------------------------------------------------------------------- test system
@pytest.fixture(scope="module")
def system():
    """Three structures: 4 atoms (molecule), 3 atoms with periodic images along x, 1 lone atom.

    Pairs: all ordered i != j inside each structure, plus for the periodic one
    every (i, j) with the image shifted by +-L along x (including i == j), so
    some atoms have repeated neighbours at different distances; the lone atom
    has no pair.
    """
    rng = np.random.default_rng(7)
    n_atoms = np.array([4, 3, 1], np.int32)
    structure_index = np.repeat(np.arange(3), n_atoms).astype(np.int32)
    positions = rng.uniform(0.0, 3.0, size=(n_atoms.sum(), 3))
    box = 3.2
    idx_i, idx_j, offsets = [], [], []
    start = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    for s, (a0, n) in enumerate(zip(start, n_atoms)):
        for i in range(a0, a0 + n):
            for j in range(a0, a0 + n):
                if i != j:
                    idx_i.append(i), idx_j.append(j), offsets.append([0.0, 0.0, 0.0])
                if s == 1:
                    for sign in (1.0, -1.0):
                        idx_i.append(i), idx_j.append(j), offsets.append([sign * box, 0.0, 0.0])
    idx_i = np.array(idx_i, np.int32)
    idx_j = np.array(idx_j, np.int32)
    offsets = np.array(offsets)
    dist = np.linalg.norm(positions[idx_j] - positions[idx_i] + offsets, axis=1)
    rbf_layer = GaussianRBF(cutoff=5.0, spacing=0.5, gamma=2.0, dtype="float64")
    rbf = rbf_layer(dist).numpy()
    return dict(n_atoms=n_atoms, structure_index=structure_index, idx_i=idx_i, idx_j=idx_j,
                dist=dist, rbf=rbf, atomic_numbers=rng.choice([1, 6, 8], size=n_atoms.sum()).astype(np.int32),
                rng=rng)


# ----------------------------------------------------------------------------- activations
def test_shifted_softplus_matches_definition_in_float64():
    x = np.linspace(-40.0, 40.0, 4001)
    y = shifted_softplus(tf.constant(x, tf.float64)).numpy()
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, np_ssp(x), rtol=1e-13, atol=1e-15)
    # Near 0 the result is ~x/2 + x^2/8: accurate to relative precision, no cancellation.
    tiny = np.array([1e-12, -1e-12, 1e-8, -3e-8])
    np.testing.assert_allclose(shifted_softplus(tf.constant(tiny)).numpy(), tiny / 2 + tiny ** 2 / 8, rtol=1e-12)
    assert shifted_softplus(tf.constant(0.0, tf.float64)).numpy() == 0.0
    assert shifted_softplus(tf.constant(0.0, tf.float32)).numpy() == 0.0


def test_shifted_softplus_float32_within_round_off_of_float64_and_continuous_at_the_series_switch():
    """float32 against float64 (itself checked above): within 2e-7 absolute over |x| < 2 and 5e-7 relative
    everywhere (8 units in the last place; measured 3.6e-7 against 80-digit arithmetic), and the series
    (|x| < 0.5) and log (|x| >= 0.5) branches meet without a step: at the float32 neighbours of the switch the
    values differ by the slope times the spacing, to the values' own rounding."""
    x = np.concatenate([np.linspace(-40.0, 40.0, 200001), np.geomspace(1e-30, 2.0, 20001),
                        -np.geomspace(1e-30, 2.0, 20001)]).astype(np.float32)
    ref = shifted_softplus(tf.constant(x.astype(np.float64))).numpy()
    y = shifted_softplus(tf.constant(x)).numpy().astype(np.float64)
    small = np.abs(x) < 2
    assert np.abs(y - ref)[small].max() < 2e-7
    assert (np.abs(y - ref) / np.maximum(np.abs(ref), 1e-300)).max() < 5e-7
    for switch in (0.5, -0.5):
        s = np.float32(switch)
        below, above = (np.nextafter(s, np.float32(0)), s)
        y2 = shifted_softplus(tf.constant([below, above])).numpy().astype(np.float64)
        slope = 1.0 / (1.0 + math.exp(-switch))
        assert abs((y2[1] - y2[0]) - slope * (float(above) - float(below))) <= 2 * abs(np.spacing(np.float32(y2[1])))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_shifted_softplus_extremes_and_gradient(dtype):
    x = tf.constant([-1000.0, -80.0, -1.0, 0.0, 0.3, 1.0, 1.0 + 1e-6, 2.0, 80.0, 1000.0], dtype)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = shifted_softplus(x)
        grad = tape.gradient(y, x)
    second = outer.gradient(grad, x)
    assert y.dtype == dtype and grad.dtype == dtype
    for values in (y, grad, second):
        assert np.all(np.isfinite(values.numpy()))
    sig = tf.sigmoid(x).numpy()
    np.testing.assert_allclose(second.numpy(), sig * (1 - sig), rtol=1e-5, atol=1e-7)
    tol = 1e-15 if dtype == tf.float64 else 1e-6
    np.testing.assert_allclose(y.numpy()[-1], 1000.0 - LN2, rtol=tol)
    np.testing.assert_allclose(y.numpy()[-2], 80.0 - LN2, rtol=tol)
    np.testing.assert_allclose(y.numpy()[0], -LN2, rtol=tol)
    np.testing.assert_allclose(grad.numpy(), tf.sigmoid(x).numpy(), rtol=10 * tol, atol=tol)


def test_shifted_softplus_layer_and_crelu():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3)) * 5
    y = ShiftedSoftplus(dtype="float64")(x)
    assert y.dtype == tf.float64
    np.testing.assert_allclose(y.numpy(), np_ssp(x), rtol=1e-13, atol=1e-15)
    c = CReLU(dtype="float64")(x)
    assert c.shape == (5, 6) and c.dtype == tf.float64
    np.testing.assert_array_equal(c.numpy(), np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], axis=-1))


# ----------------------------------------------------------------------------- radial
@pytest.mark.parametrize("cutoff,spacing,start,n_expected",
                         [(5.0, 0.1, 0.0, 51), (3.0, 0.1, 0.0, 31), (2.0, 0.3, 0.0, 7), (2.0, 0.5, 0.5, 4)])
def test_gaussian_rbf_matches_eq_3_4(cutoff, spacing, start, n_expected):
    layer = GaussianRBF(cutoff, spacing, gamma=10.0, start=start, dtype="float64")
    if start == 0.0:
        assert n_expected == math.floor(round(cutoff / spacing, 9)) + 1
    assert layer.n_rbf == n_expected
    centres = start + spacing * np.arange(n_expected)
    d = np.random.default_rng(1).uniform(0, cutoff + 1, size=(3, 4))
    y = layer(d)
    assert y.shape == (3, 4, n_expected) and y.dtype == tf.float64
    np.testing.assert_allclose(y.numpy(), np_rbf(d, centres, 10.0), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(layer.get_weights()[0], centres, rtol=1e-15)


def test_gaussian_rbf_trainable_flag():
    assert GaussianRBF(3.0)(tf.constant([1.0])).shape == (1, 31)
    frozen, free = GaussianRBF(3.0), GaussianRBF(3.0, trainable=True)
    frozen.build(None), free.build(None)
    assert len(frozen.trainable_weights) == 0 and len(frozen.weights) == 2
    assert len(free.trainable_weights) == 2
    assert GaussianRBF.from_config(free.get_config()).trainable


def test_cosine_cutoff_matches_formula():
    rc = 3.0
    d = np.array([0.0, 0.5, 1.5, 2.999, 3.0, 3.5, 10.0])
    y = CosineCutoff(rc, dtype="float64")(d).numpy()
    np.testing.assert_allclose(y, [cosine_cutoff_scalar(v, rc) for v in d], rtol=1e-14, atol=1e-300)
    assert y[0] == 1.0 and y[4] == 0.0 and y[-1] == 0.0


# ----------------------------------------------------------------------------- embedding, readout
def test_atom_embedding_is_row_lookup():
    layer = AtomEmbedding(5, max_z=10, dtype="float64")
    z = np.array([1, 6, 8, 1, 10], np.int64)
    y = layer(z)
    (table,) = layer.get_weights()
    assert table.shape == (11, 5) and y.shape == (5, 5) and y.dtype == tf.float64
    np.testing.assert_array_equal(y.numpy(), table[z])


@pytest.mark.parametrize("aggregation", ["sum", "mean"])
@pytest.mark.parametrize("refs_2d", [False, True])
def test_atomwise_readout(system, aggregation, refs_2d):
    rng = np.random.default_rng(3)
    n_atoms = np.array([4, 3, 1, 0], np.int32)          # a trailing empty structure
    structure_index = system["structure_index"]
    z = system["atomic_numbers"]
    values = rng.normal(size=(8, 2))
    e_mu, e_sigma = [0.5, -1.0], 2.5
    refs = rng.normal(size=(9, 2) if refs_2d else (9,))
    layer = AtomwiseReadout(aggregation, e_mu=e_mu, e_sigma=e_sigma, element_references=refs,
                            return_atomwise=True, dtype="float64")
    out = layer(values, structure_index, n_atoms, atomic_numbers=z)
    expected_atomwise = np.empty_like(values)
    for i in range(8):
        ref = refs[z[i]] if refs_2d else np.full(2, refs[z[i]])
        expected_atomwise[i] = e_sigma * values[i] + np.array(e_mu) + ref
    expected = np.zeros((4, 2))
    for s in range(4):
        members = [i for i in range(8) if structure_index[i] == s]
        if members:
            expected[s] = expected_atomwise[members].sum(axis=0)
            if aggregation == "mean":
                expected[s] /= len(members)
    assert set(out) == {keys.ENERGY, keys.ATOMWISE_ENERGY}      # named by tfatoms.keys
    assert out[keys.ENERGY].dtype == tf.float64
    np.testing.assert_allclose(out[keys.ATOMWISE_ENERGY].numpy(), expected_atomwise, rtol=1e-14)
    np.testing.assert_allclose(out[keys.ENERGY].numpy(), expected, rtol=1e-13, atol=1e-14)


def test_readout_plain_and_errors(system):
    values = np.ones((8, 1))
    total = AtomwiseReadout(e_mu=1.0, dtype="float64")(values, system["structure_index"], system["n_atoms"])
    np.testing.assert_allclose(total.numpy(), 2.0 * system["n_atoms"][:, None])
    with pytest.raises(ValueError, match="atomic_numbers"):
        AtomwiseReadout(element_references=np.zeros(10))(values, system["structure_index"], system["n_atoms"])
    with pytest.raises(ValueError):
        AtomwiseReadout("max")
    with pytest.raises(ValueError):
        CFConv(8, aggregation="max")


# ----------------------------------------------------------------------------- interactions
CFCONV_CASES = [(None, "ssp", "sum"), (3.0, "ssp", "sum"), (3.0, "linear", "sum"), (None, "ssp", "mean"),
                (3.0, "linear", "mean")]


@pytest.mark.parametrize("cutoff,last_activation,aggregation", CFCONV_CASES)
def test_cfconv_matches_eq_4_5(system, cutoff, last_activation, aggregation):
    d = system["dist"]
    if cutoff is not None:
        assert (d < cutoff).any() and (d > cutoff).any()
    x = system["rng"].normal(size=(8, 6))
    layer = CFConv(6, cutoff=cutoff, second_filter_activation=last_activation, aggregation=aggregation,
                   dtype="float64")
    # Without a cutoff the distances are not needed.
    y = layer(x, system["rbf"], d if cutoff else None, system["idx_i"], system["idx_j"])
    weights = layer.get_weights()
    assert [w.shape for w in weights] == [(system["rbf"].shape[1], 6), (6,), (6, 6), (6,)]
    expected = ref_cfconv(x, system["rbf"], d, system["idx_i"], system["idx_j"], weights, cutoff,
                          last_activation, aggregation)
    assert y.dtype == tf.float64
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(y.numpy()[7], 0.0)          # the lone atom has no neighbour


@pytest.mark.parametrize("cutoff,last_activation,aggregation", [CFCONV_CASES[0], CFCONV_CASES[2], CFCONV_CASES[3]])
def test_schnet_interaction_matches_fig_4_2(system, cutoff, last_activation, aggregation):
    x = system["rng"].normal(size=(8, 5))
    layer = SchNetInteraction(n_features=5, n_filters=7, cutoff=cutoff, second_filter_activation=last_activation,
                              aggregation=aggregation, dtype="float64")
    y = layer(x, system["rbf"], system["dist"], system["idx_i"], system["idx_j"])
    weights = layer.get_weights()
    n_rbf = system["rbf"].shape[1]
    assert [w.shape for w in weights] == [(5, 7), (n_rbf, 7), (7,), (7, 7), (7,), (7, 5), (5,), (5, 5), (5,)]
    expected = ref_schnet_interaction(x, system["rbf"], system["dist"], system["idx_i"], system["idx_j"],
                                      weights, cutoff, last_activation, aggregation)
    assert y.shape == (8, 5) and y.dtype == tf.float64
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)


def test_factorized_tensor_interaction_matches_eq_3_7(system):
    x = system["rng"].normal(size=(8, 4))
    layer = FactorizedTensorInteraction(n_features=4, n_factors=9, dtype="float64")
    y = layer(x, system["rbf"], system["idx_i"], system["idx_j"])
    weights = layer.get_weights()
    n_rbf = system["rbf"].shape[1]
    assert [w.shape for w in weights] == [(4, 9), (9,), (n_rbf, 9), (9,), (9, 4)]
    expected = ref_tensor_interaction(x, system["rbf"], system["idx_i"], system["idx_j"], weights)
    assert y.dtype == tf.float64
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(y.numpy()[7], x[7])         # no pair: unchanged


def test_schnet_interaction_gradient_wrt_distances(system):
    """Forces need d(output)/d(distance): autodiff agrees with central differences (float64)."""
    x = system["rng"].normal(size=(8, 4))
    rbf_layer = GaussianRBF(cutoff=5.0, spacing=0.5, gamma=2.0, dtype="float64")
    layer = SchNetInteraction(4, 4, cutoff=3.0, dtype="float64")
    proj = system["rng"].normal(size=(8, 4))

    def scalar(d):
        return tf.reduce_sum(proj * layer(x, rbf_layer(d), d, system["idx_i"], system["idx_j"]))

    d = tf.constant(system["dist"])
    with tf.GradientTape() as tape:
        tape.watch(d)
        value = scalar(d)
    grad = tape.gradient(value, d).numpy()
    h = 1e-6
    eye = np.eye(len(system["dist"]))
    numeric = np.array([(scalar(d + h * e) - scalar(d - h * e)).numpy() / (2 * h) for e in eye])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    assert np.all(grad[system["dist"] > 3.0] == 0.0)        # pairs beyond the cutoff do not act


def test_float32_inputs_are_computed_in_layer_dtype(system):
    x = system["rng"].normal(size=(8, 4)).astype(np.float32)
    y = SchNetInteraction(4, 4, cutoff=3.0, dtype="float64")(
        x, system["rbf"].astype(np.float32), system["dist"].astype(np.float32), system["idx_i"], system["idx_j"])
    assert y.dtype == tf.float64
    y32 = SchNetInteraction(4, 4, cutoff=3.0)(x, system["rbf"], system["dist"], system["idx_i"], system["idx_j"])
    assert y32.dtype == tf.float32


# ----------------------------------------------------------------------------- serialization
def _float(shape=()):
    return keras.Input(shape=shape, dtype="float64")


def _int():
    return keras.Input(shape=(), dtype="int32")


def _pair_inputs(system, n_features):
    rng = np.random.default_rng(11)
    return [rng.normal(size=(8, n_features)), system["rbf"], system["dist"], system["idx_i"], system["idx_j"]]


def _model_and_data(name, system):
    """A functional model wrapping one layer, and data to call it with."""
    n_rbf = system["rbf"].shape[1]
    if name in ("ShiftedSoftplus", "CReLU"):
        layer = {"ShiftedSoftplus": ShiftedSoftplus, "CReLU": CReLU}[name](dtype="float64")
        inp = _float((3,))
        return keras.Model(inp, layer(inp)), [np.linspace(-5, 5, 12).reshape(4, 3)]
    if name == "GaussianRBF":
        inp = _float()
        layer = GaussianRBF(5.0, 0.5, gamma=2.0, trainable=True, dtype="float64")
        model = keras.Model(inp, layer(inp))
        layer.set_weights([w + 0.01 for w in layer.get_weights()])    # must be restored by loading
        return model, [system["dist"]]
    if name == "CosineCutoff":
        inp = _float()
        return keras.Model(inp, CosineCutoff(3.0, dtype="float64")(inp)), [system["dist"]]
    if name == "AtomEmbedding":
        inp = _int()
        return keras.Model(inp, AtomEmbedding(4, max_z=10, dtype="float64")(inp)), [system["atomic_numbers"]]
    if name == "AtomwiseReadout":
        inputs = [_float((2,)), _int(), _int(), _int()]
        layer = AtomwiseReadout("mean", e_mu=[1.0, 2.0], e_sigma=0.5, element_references=np.arange(9.0),
                                return_atomwise=True, dtype="float64")
        out = layer(inputs[0], inputs[1], inputs[2], atomic_numbers=inputs[3])
        data = [np.random.default_rng(2).normal(size=(8, 2)), system["structure_index"], system["n_atoms"],
                system["atomic_numbers"]]
        return keras.Model(inputs, out), data
    if name in ("CFConv", "SchNetInteraction"):
        inputs = [_float((6,)), _float((n_rbf,)), _float(), _int(), _int()]
        layer = (CFConv(6, cutoff=3.0, second_filter_activation="linear", aggregation="mean", dtype="float64")
                 if name == "CFConv" else SchNetInteraction(6, 5, cutoff=3.0, dtype="float64"))
        return keras.Model(inputs, layer(*inputs)), _pair_inputs(system, 6)
    if name == "FactorizedTensorInteraction":
        inputs = [_float((4,)), _float((n_rbf,)), _int(), _int()]
        out = FactorizedTensorInteraction(4, 7, dtype="float64")(*inputs)
        data = _pair_inputs(system, 4)
        return keras.Model(inputs, out), [data[0], data[1], data[3], data[4]]
    raise KeyError(name)


LAYER_NAMES = ["ShiftedSoftplus", "CReLU", "GaussianRBF", "CosineCutoff", "AtomEmbedding", "AtomwiseReadout",
               "CFConv", "SchNetInteraction", "FactorizedTensorInteraction"]


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_keras_save_load_round_trip(system, tmp_path, name):
    model, data = _model_and_data(name, system)
    layer = model.layers[-1]
    assert type(layer).__name__ == name
    rebuilt = type(layer).from_config(layer.get_config())
    assert rebuilt.get_config() == layer.get_config()

    inputs = data[0] if len(data) == 1 else data
    before = model(inputs)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    after = loaded(inputs)
    assert type(loaded.layers[-1]) is type(layer)
    for a, b in zip(tf.nest.flatten(before), tf.nest.flatten(after)):
        assert b.dtype == a.dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
