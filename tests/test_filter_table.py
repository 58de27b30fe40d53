"""Tabulated SchNet filters (tfatoms.layers.filter_table): the spline of W(d) gives the network's energies and
forces to float32 round-off, measured against the float64 network in the same test."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from ase.build import bulk, molecule

from tfatoms import keys
from tfatoms.layers.filter_table import FilterTable, filter_table, filter_values, hermite_coefficients
from tfatoms.models import Potential, SchNet
from tfatoms.representations import build_batch


def _molecules():
    rng = np.random.default_rng(0)
    out = []
    for name in ("CH3CH2OH", "C6H6", "CH3COOH", "H2O", "C4H4NH"):      # ethanol, benzene, acetic acid, ...
        atoms = molecule(name)
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        out.append(atoms)
    return out


def _models(structures=None, seed=3, **kwargs):
    """The same random SchNet in float32 and float64 (weights of the float64 one, rounded), built on
    ``structures`` (default: a molecule); ``kwargs`` override the SchNet options below."""
    options = {**dict(n_features=32, n_interactions=3, rbf_cutoff=8.0), **kwargs}
    models = {}
    for dtype in ("float64", "float32"):
        keras.utils.set_random_seed(seed)
        m = SchNet(dtype=dtype, **options)
        m(build_batch(structures or _molecules()[:1], dtype=np.dtype(dtype), cutoff=options.get("cutoff")))
        if dtype == "float32":
            m.set_weights([w.astype(np.float32) for w in models["float64"].get_weights()])
        models[dtype] = m
    return models


def _run(model, structures, dtype, cutoff=None):
    batch = build_batch(structures, cutoff=cutoff, dtype=np.dtype(dtype))
    out = Potential(model, compute_forces=True)({k: tf.constant(v) for k, v in batch.items()})
    return out[keys.ENERGY].numpy().astype(np.float64), out[keys.FORCES].numpy().astype(np.float64)


def test_filter_values_are_the_network_and_its_derivative():
    model = _models()["float64"]
    conv, rbf = model.interactions[1].cfconv, model.rbf
    d = np.linspace(0.3, 9.5, 57)
    layers = [(dense.kernel.numpy(), dense.bias.numpy(), "ssp") for dense in conv.filter_network]
    values, slopes = filter_values(layers, rbf.centres.numpy(), rbf.widths.numpy(), d)
    np.testing.assert_allclose(values, conv.filters(rbf(tf.constant(d))).numpy(), rtol=1e-12, atol=1e-13)
    eps = 1e-6
    fd = (filter_values(layers, rbf.centres.numpy(), rbf.widths.numpy(), d + eps)[0]
          - filter_values(layers, rbf.centres.numpy(), rbf.widths.numpy(), d - eps)[0]) / (2 * eps)
    np.testing.assert_allclose(slopes, fd, rtol=1e-6, atol=1e-8)


def test_hermite_spline_interpolates_values_and_slopes_and_is_exact_for_cubics():
    h = 0.25
    grid = h * np.arange(9)
    cubic = lambda x: np.stack([1 - 2 * x + 0.5 * x ** 3, x ** 2], axis=1)         # noqa: E731
    slope = lambda x: np.stack([-2 + 1.5 * x ** 2, 2 * x], axis=1)                 # noqa: E731
    table = FilterTable(hermite_coefficients(cubic(grid), slope(grid), h), h, dtype="float64")
    d = np.linspace(0.0, 2.0, 101)
    np.testing.assert_allclose(table(tf.constant(d)).numpy(), cubic(d), atol=1e-12)
    # beyond the last grid point: its value (the network is constant there)
    np.testing.assert_allclose(table(tf.constant([2.0, 3.0, 50.0])).numpy(), np.repeat(cubic(grid[-1:]), 3, 0),
                               atol=1e-12)
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
        t = FilterTable(hermite_coefficients(cubic(grid), slope(grid), h), h, dtype=dtype)
        dx = tf.constant(np.concatenate([d, [2.5, 7.0]]), dtype)      # grid points, the end, beyond
        with tf.GradientTape() as tape:
            tape.watch(dx)
            y = tf.reduce_sum(t(dx)[:, 0])
        expected = np.concatenate([slope(d)[:, 0], [0.0, 0.0]])      # constant beyond the end
        np.testing.assert_allclose(tape.gradient(y, dx).numpy(), expected, atol=tol)
    with pytest.raises(ValueError, match="float32 or float64"):
        FilterTable(hermite_coefficients(cubic(grid), slope(grid), h), h, dtype="bfloat16")


@pytest.mark.parametrize("options", [dict(), dict(shared_filters=True),
                                     dict(cutoff=5.0, second_filter_activation="linear")])
def test_tabulated_model_equals_the_network_to_float32_round_off(options):
    models = _models(**options)
    cutoff = options.get("cutoff")
    structures = _molecules()
    e64, f64 = _run(models["float64"], structures, "float64", cutoff)
    e32, f32 = _run(models["float32"], structures, "float32", cutoff)
    table = models["float32"].with_tabulated_filters()
    et, ft = _run(table, structures, "float32", cutoff)
    round_off_e = max(np.abs(e32 - e64).max(), 1e-7 * np.abs(e64).max())
    round_off_f = max(np.abs(f32 - f64).max(), 1e-7 * np.abs(f64).max())
    # measured 0.5-1.4x the float32 network's own error: round-off, not the spline
    assert np.abs(et - e64).max() <= 3 * round_off_e, (np.abs(et - e64).max(), round_off_e)
    assert np.abs(ft - f64).max() <= 3 * round_off_f, (np.abs(ft - f64).max(), round_off_f)
    assert np.abs(f64).max() > 1e-2                  # non-trivial forces
    # in float64 the spline's own error shows: far below float32 round-off at the default spacing
    e_t64, f_t64 = _run(models["float64"].with_tabulated_filters(), structures, "float64", cutoff)
    assert np.abs(e_t64 - e64).max() < 0.1 * round_off_e        # measured 0.02
    assert np.abs(f_t64 - f64).max() < round_off_f              # measured 0.16-0.41 (the slope's error is O(h^3))
    # a prediction-only copy: no trainable weights, the original untouched and still the network
    assert not table.trainable_weights and models["float32"].trainable_weights
    assert all(b.cfconv.filter_table is None for b in models["float32"].interactions)
    tables = {id(b.cfconv.filter_table) for b in table.interactions}
    assert len(tables) == (1 if options.get("shared_filters") else 3)


def test_tabulated_model_on_a_periodic_crystal():
    si = bulk("Si", "diamond", a=5.43).repeat(2)
    si.positions += np.random.default_rng(1).normal(scale=0.05, size=si.positions.shape)
    models = _models([si], seed=1, n_features=16, n_interactions=2, rbf_cutoff=5.0, cutoff=5.0, max_z=14)
    e64, f64 = _run(models["float64"], [si], "float64", 5.0)
    _, f32 = _run(models["float32"], [si], "float32", 5.0)
    e_t, f_t = _run(models["float32"].with_tabulated_filters(), [si], "float32", 5.0)
    np.testing.assert_allclose(e_t, e64, rtol=1e-6)
    assert np.abs(f_t - f64).max() <= 2 * np.abs(f32 - f64).max()
    assert np.abs(f64).max() > 1e-2


def test_tabulating_needs_a_built_model_and_tabulable_layers():
    with pytest.raises(ValueError, match="built model"):
        SchNet(n_features=8, n_interactions=1).with_tabulated_filters()
    model = _models()["float32"]
    model.interactions[0].cfconv.filter_network[0].activation = keras.activations.tanh
    with pytest.raises(ValueError, match="cannot tabulate"):
        filter_table(model.interactions[0].cfconv, model.rbf)


def test_calculator_with_tabulated_filters_on_the_shipped_ethanol_model():
    from tfatoms.calculators import TfatomsCalculator

    atoms = molecule("CH3CH2OH")
    atoms.positions += np.random.default_rng(2).normal(scale=0.05, size=atoms.positions.shape)
    results = {}
    for tabulated in (False, True):
        atoms.calc = TfatomsCalculator("schnet_rmd17_ethanol", tabulated_filters=tabulated)
        results[tabulated] = atoms.get_potential_energy(), atoms.get_forces()
    assert atoms.calc.parameters["tabulated_filters"] is True
    nitrile = molecule("CH3CN")                 # nitrogen: not among the model's trained elements
    nitrile.calc = atoms.calc
    with pytest.raises(ValueError, match="not among the elements"):
        nitrile.get_potential_energy()
    e, f = results[False]
    e_t, f_t = results[True]
    assert abs(e_t - e) < 1e-6 * abs(e)                        # float32 round-off of a -4,200 eV energy
    np.testing.assert_allclose(f_t, f, atol=5e-6 * np.abs(f).max())     # measured: 7e-7
    from tfatoms.models import DTNN

    with pytest.raises(ValueError, match="needs a SchNet"):
        TfatomsCalculator(DTNN(n_features=8, n_factors=8, n_interactions=1), tabulated_filters=True)
