"""TileExtract / TileSum / EDNN: equality with naive slicing, extensivity, errors, serialization."""
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfatoms.layers import TileExtract, TileSum
from tfatoms.models import EDNN, ising_tile_network


def naive_tiles(x, f, c):
    """Per-tile slicing loop with explicit periodic indices (EDNN Appendix)."""
    spatial = x.shape[1:-1]
    t = f + 2 * c
    out = []
    for b in range(x.shape[0]):
        for corner in itertools.product(*(range(n // f) for n in spatial)):
            idx = [[(i * f - c + p) % n for p in range(t)] for i, n in zip(corner, spatial)]
            out.append(x[b][np.ix_(*idx)])
    return np.stack(out)


@pytest.mark.parametrize("shape,f,c", [
    ((2, 8, 8, 1), 1, 1), ((2, 8, 8, 1), 1, 3), ((3, 6, 4, 3), 2, 3), ((1, 12, 8, 2), 4, 0),
    ((2, 16, 16, 1), 8, 4), ((1, 4, 4, 5), 2, 4)])
def test_tile_extract_equals_naive_2d(rng, shape, f, c):
    x = rng.normal(size=shape).astype(np.float32)
    tiles, grid = TileExtract(f, c)(x)
    np.testing.assert_array_equal(tiles.numpy(), naive_tiles(x, f, c))
    assert list(grid.numpy()) == [shape[0]] + [n // f for n in shape[1:-1]]


@pytest.mark.parametrize("shape,f,c", [((2, 4, 4, 4, 1), 2, 1), ((1, 6, 4, 4, 2), 2, 3), ((1, 3, 3, 3, 1), 1, 2)])
def test_tile_extract_equals_naive_3d(rng, shape, f, c):
    x = rng.normal(size=shape).astype(np.float32)
    tiles, grid = TileExtract(f, c, spatial_dims=3)(x)
    np.testing.assert_array_equal(tiles.numpy(), naive_tiles(x, f, c))
    assert tiles.shape == (grid.numpy().prod(),) + (f + 2 * c,) * 3 + (shape[-1],)


def test_tile_sum_returns_sums_and_map(rng):
    contributions = rng.normal(size=(2 * 3 * 4, 2))
    grid = tf.constant([2, 3, 4])
    sums, tile_map = TileSum(return_map=True)(tf.constant(contributions), grid)
    np.testing.assert_allclose(sums.numpy(), contributions.reshape(2, 12, 2).sum(axis=1))
    np.testing.assert_array_equal(tile_map.numpy(), contributions.reshape(2, 3, 4, 2))


def _random_ednn(f, c, dims, channels=1, seed=0):
    keras.utils.set_random_seed(seed)
    t = f + 2 * c
    inputs = keras.Input((t,) * dims + (channels,), dtype="float64")
    x = keras.layers.Flatten(dtype="float64")(inputs)
    x = keras.layers.Dense(16, activation="tanh", dtype="float64")(x)
    net = keras.Model(inputs, keras.layers.Dense(1, dtype="float64")(x))
    return EDNN(net, f, c, spatial_dims=dims, dtype="float64")


@pytest.mark.parametrize("dims,cell,f,c,k", [(2, 6, 2, 1, 3), (2, 4, 2, 3, 2), (3, 4, 2, 1, 2), (3, 2, 1, 2, 3)])
def test_ednn_sum_is_extensive(rng, dims, cell, f, c, k):
    """An image of k^d periodic copies of a cell gives exactly k^d times the cell's value."""
    model = _random_ednn(f, c, dims)
    x = rng.normal(size=(1,) + (cell,) * dims + (1,))
    big = np.tile(x, (1,) + (k,) * dims + (1,))
    e_cell = model(x).numpy()[0, 0]
    e_big = model(big).numpy()[0, 0]
    assert abs(e_cell) > 1e-3
    np.testing.assert_allclose(e_big, k ** dims * e_cell, rtol=1e-12)


def test_ednn_prediction_is_sum_of_tile_network_outputs(rng):
    f, c = 1, 1
    net = ising_tile_network(f, c)
    model = EDNN(net, f, c, return_map=True)
    x = rng.choice([-1.0, 1.0], size=(2, 16, 16, 1)).astype(np.float32)
    total, tile_map = model(x)
    per_tile = net(naive_tiles(x, f, c)).numpy().reshape(2, -1)
    np.testing.assert_allclose(total.numpy()[:, 0], per_tile.sum(axis=1), rtol=1e-5)
    assert tile_map.shape == (2, 16, 16, 1)


def test_ising_tile_network_parameter_counts():
    """EDNN sec. 3.1: with f = 1 the c = 3 network has over 7 times the parameters of c = 1."""
    n1 = ising_tile_network(1, 1).count_params()
    n3 = ising_tile_network(1, 3).count_params()
    assert (n1, n3) == (25601, 183041)
    assert n3 / n1 > 7


@pytest.mark.parametrize("shape,f,c,message", [
    ((1, 10, 8, 1), 4, 1, "not a multiple of the focus"),
    ((1, 8, 8, 1), 4, 9, "context c=9 is larger than the image"),
    ((1, 8, 8), 2, 1, "expects inputs of rank 4"),
])
def test_tile_extract_bad_input(shape, f, c, message):
    with pytest.raises(ValueError, match=message):
        TileExtract(f, c)(np.zeros(shape, np.float32))


@pytest.mark.parametrize("kwargs,message", [
    (dict(focus=0, context=1), "focus must be a positive integer"),
    (dict(focus=2, context=-1), "context must be a non-negative integer"),
    (dict(focus=2, context=1, spatial_dims=4), "spatial_dims must be 2 or 3"),
])
def test_tile_extract_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TileExtract(**kwargs)


def test_keras_round_trip_tile_layers_and_ednn(tmp_path, rng):
    x = rng.normal(size=(2, 8, 8, 1)).astype(np.float32)
    inputs = keras.Input((8, 8, 1))
    tiles, grid = TileExtract(2, 1)(inputs)
    contrib = keras.layers.Dense(1)(keras.layers.Flatten()(tiles))
    functional = keras.Model(inputs, TileSum()(contrib, grid))
    ednn = EDNN(ising_tile_network(2, 1), 2, 1)
    ednn(x)
    for i, model in enumerate((functional, ednn)):
        path = tmp_path / f"m{i}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------- checks that hold in every mode

def _signature_function(model):
    return tf.function(model, input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)])


def test_size_not_a_multiple_of_the_focus_fails_inside_a_trace_with_unknown_sizes():
    model = EDNN(ising_tile_network(4, 1), 4, 1)
    fn = _signature_function(model)
    x = np.ones((2, 12, 8, 1), np.float32)
    np.testing.assert_allclose(fn(x).numpy(), model(x).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="not a multiple of the focus"):
        model(np.ones((1, 12, 10, 1), np.float32))          # eager: the static check
    with pytest.raises(tf.errors.InvalidArgumentError, match="spatial axis 1 is not a multiple of the focus f=4"):
        fn(np.ones((1, 12, 10, 1), np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="context c=5 is larger than the image size"):
        _signature_function(EDNN(ising_tile_network(4, 5), 4, 5))(np.ones((1, 4, 4, 1), np.float32))


def test_size_not_a_multiple_of_the_focus_fails_under_xla():
    """XLA compiles Assert ops out; the reshape of the tile starts still refuses the size."""
    model = EDNN(ising_tile_network(4, 1), 4, 1)
    fn = tf.function(model, input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)], jit_compile=True)
    x = np.ones((1, 8, 12, 1), np.float32)
    np.testing.assert_allclose(fn(x).numpy(), model(x).numpy(), rtol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="reshape"):
        fn(np.ones((1, 8, 10, 1), np.float32))


def test_predict_after_several_sizes_still_rejects_a_size_that_is_not_a_multiple():
    """predict retraces with unknown spatial sizes after a few sizes; the check must survive."""
    model = EDNN(ising_tile_network(4, 1), 4, 1)
    for n in (8, 12, 16, 20):
        x = np.ones((1, n, n, 1), np.float32)
        np.testing.assert_allclose(model.predict(x, verbose=0), model(x).numpy(), rtol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a multiple of the focus f=4"):
        model.predict(np.ones((1, 10, 10, 1), np.float32), verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixel_is_rejected_in_every_mode(bad):
    model = EDNN(ising_tile_network(2, 1), 2, 1)
    x = np.ones((2, 6, 6, 1), np.float32)
    x[1, 3, 4, 0] = bad
    with pytest.raises(ValueError, match=r"NaN or infinite pixels; .*first at index \(1, 3, 4, 0\)"):
        model(x)
    with pytest.raises(tf.errors.InvalidArgumentError, match="EDNN input images contain NaN or infinite"):
        _signature_function(model)(x)
    with pytest.raises(tf.errors.InvalidArgumentError, match="EDNN input images contain NaN or infinite"):
        model.predict(x, verbose=0)
    # finite images are unchanged by the check; integer images pass through
    x[1, 3, 4, 0] = 1.0
    np.testing.assert_allclose(_signature_function(model)(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_finite_check_is_one_cheap_op_in_the_graph():
    """The check costs one CheckNumerics over the input (no copy of the tiles, no per-tile check)."""
    model = EDNN(ising_tile_network(1, 1), 1, 1)
    graph = _signature_function(model).get_concrete_function().graph
    ops = [op.type for op in graph.get_operations()]
    assert ops.count("CheckNumerics") == 1


def test_keras_does_not_switch_xla_on_by_itself_for_the_ednn():
    """XLA compiles the input checks out; on a GPU Keras' jit_compile='auto' would pick it."""
    model = EDNN(ising_tile_network(2, 1), 2, 1)
    assert model.supports_jit is False
    with pytest.warns(UserWarning, match="jit_compile"):
        model.jit_compile = True
    assert model.jit_compile is False
    model.compile(loss="mse", jit_compile="auto")
    assert model.jit_compile is False
