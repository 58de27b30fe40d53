"""EDNN Monte Carlo with local tile updates (EDNN Fig. 13): the cached energy equals a full re-evaluation after a
random sequence of accepted and rejected moves, a rejected move restores image and energy exactly, and the move
touches only the tiles it must."""
import keras
import numpy as np
import pytest

from tfatoms.data.hexagonal import PAPER_CELL, hexagonal_sheet
from tfatoms.inference.monte_carlo import LocalTileEnergy, metropolis
from tfatoms.models import EDNN


def small_ednn(focus=16, context=8):
    keras.utils.set_random_seed(0)
    t = focus + 2 * context
    inputs = keras.Input((t, t, 1))
    x = keras.layers.Conv2D(6, 3, activation="relu")(inputs)
    x = keras.layers.Conv2D(6, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    net = keras.Model(inputs, keras.layers.Dense(1)(x))
    return EDNN(net, focus, context)


@pytest.fixture
def graphene_energy():
    sheet = hexagonal_sheet("graphene")
    return LocalTileEnergy(small_ednn(), sheet.positions, sheet.numbers, PAPER_CELL[:2], (64, 64))


def test_cached_energy_equals_the_full_evaluation_and_the_model(graphene_energy):
    e = graphene_energy
    from tfatoms.representations.gaussian_image import gaussian_image

    image = gaussian_image(e.positions, e.numbers, PAPER_CELL[:2], (64, 64), gamma=0.2)
    model_energy = float(np.asarray(small_ednn()(image[None, ..., None]))[0, 0])
    assert abs(e.energy - model_energy) < 1e-5 * max(1.0, abs(model_energy))
    rng = np.random.default_rng(1)
    for step in range(60):
        atom = int(rng.integers(len(e.positions)))
        delta = e.propose(atom, e.positions[atom] + rng.uniform(-0.3, 0.3, 2))
        before = e.energy
        (e.accept if step % 3 else e.reject)()
        if step % 3:
            assert abs(e.energy - (before + delta)) < 1e-9
    full = e.full_energy()
    assert abs(e.energy - full) < 1e-5 * max(1.0, abs(full)), (e.energy, full)
    assert e.n_tile_evaluations < 60 * len(e.tile_energy.ravel())          # fewer than full evaluations


def test_reject_restores_the_image_and_energy_exactly(graphene_energy):
    e = graphene_energy
    image, energy, positions = e.image.copy(), e.energy, e.positions.copy()
    e.propose(5, e.positions[5] + [0.4, -0.2])
    assert not np.array_equal(e.image, image)
    e.reject()
    np.testing.assert_array_equal(e.image, image)
    np.testing.assert_array_equal(e.positions, positions)
    assert e.energy == energy


def test_a_move_touches_only_nearby_tiles(graphene_energy):
    """f = 16, c = 8 on 64 x 64 pixels: 16 tiles; a small move in the middle of a tile touches its tile and, through
    the context, the neighbours whose windows reach it: at most 3 x 3 here (a tile window is 32 pixels wide)."""
    e = graphene_energy
    before = e.n_tile_evaluations
    e.propose(0, e.positions[0] + [0.05, 0.05])
    assert 1 <= e.n_tile_evaluations - before <= 9
    e.reject()


def test_metropolis_is_seeded_and_accepts_at_high_temperature(graphene_energy):
    sheet = hexagonal_sheet("graphene")
    run = metropolis(graphene_energy, 1000.0, 40, max_step=0.05, seed=3, record_every=10)
    again = metropolis(LocalTileEnergy(small_ednn(), sheet.positions, sheet.numbers, PAPER_CELL[:2], (64, 64)),
                       1000.0, 40, max_step=0.05, seed=3, record_every=10)
    np.testing.assert_array_equal(run["energies"], again["energies"])
    assert run["frames"].shape == (4, 60, 2) and 0 < run["acceptance"] <= 1
