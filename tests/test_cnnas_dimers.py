"""CNNAS dimers (Ryczko et al. 2018, sec. 2-3.2): generator, images, networks, a short training, the script."""
import json
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfatoms.data.atoms import AtomsData
from tfatoms.data.cache import CacheFileError, CacheMismatchError, LegacyCacheWarning
from tfatoms.data.dimers import (BOX, Selection, _DuplicateFilter, dimer_dataset, generate_dimers, lj_energy,
                                 sample_separations)
from tfatoms.models.cnnas import (NETWORK_1_CONVS, CopyConcat, ShiftedCopies, cnn_regressor, network_1, network_2,
                                  shifted_copies_network)
from tfatoms.models.ednn import dft_tile_cnn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reproductions"))


# ----------------------------------------------------------------------------- generator

@pytest.mark.parametrize("dim", [2, 3])
def test_dimers_lie_in_the_box_with_their_labels(dim):
    d = generate_dimers(2000, dim, Selection("distance", [(1.0, 2.0)]), seed=3)
    assert d.positions.shape == (2000, 2, dim)
    assert np.all((d.positions >= 0) & (d.positions < BOX))
    np.testing.assert_allclose(d.r12, np.linalg.norm(d.positions[:, 1] - d.positions[:, 0], axis=1))
    assert d.r12.min() >= 1.0 and d.r12.max() <= 2.0
    np.testing.assert_allclose(d.energy, 4 * (d.r12 ** -12 - d.r12 ** -6))
    # separations uniform in r: each tenth of the range holds ~10 %
    counts = np.histogram(d.r12, bins=10, range=(1, 2))[0]
    assert np.all(np.abs(counts - 200) < 60)
    # random orientation: the angle of the bond is uniform in 2-D (x-component sign balanced in any dim)
    bond = d.positions[:, 1] - d.positions[:, 0]
    assert abs(np.mean(np.sign(bond[:, 0]))) < 0.1


def test_lennard_jones_energy_has_its_minimum_at_two_to_the_sixth():
    r = np.linspace(1.0, 3.0, 200001)
    u = lj_energy(r)
    assert abs(r[np.argmin(u)] - 2 ** (1 / 6)) < 1e-4 and abs(u.min() + 1.0) < 1e-9
    assert lj_energy(1.0) == 0.0


def test_energy_selection_and_uniform_energy_sampling():
    sel = Selection("energy", [(-1.0, -0.67), (-0.33, 0.0)])
    d = generate_dimers(3000, 2, sel, seed=1)
    assert np.all(sel.contains(d.r12))
    assert not np.any((d.energy > -0.67) & (d.energy < -0.33))
    assert d.r12.min() >= 1.0 and d.r12.max() <= 3.0
    u = lj_energy(sample_separations(20000, Selection("energy", [(-1.0, -0.1)]), np.random.default_rng(0),
                                     uniform_in="energy"))
    counts = np.histogram(u, bins=9, range=(-1.0, -0.1))[0]
    assert np.all(np.abs(counts / counts.mean() - 1) < 0.1)          # flat in U, unlike uniform-in-r sampling
    u_r = lj_energy(sample_separations(20000, Selection("energy", [(-1.0, -0.1)]), np.random.default_rng(0)))
    counts_r = np.histogram(u_r, bins=9, range=(-1.0, -0.1))[0]
    assert counts_r.max() / counts_r.min() > 2


def test_duplicate_filter_is_the_papers_0_01_A_bin_test():
    f = _DuplicateFilter(2)
    a = np.array([[3.0, 4.0], [4.5, 4.0]])
    assert f.add(a)
    assert not f.add(a)                        # the same dimer
    assert not f.add(a[::-1])                  # atoms swapped
    assert not f.add(a + 0.004)                # within a neighbouring 0.01 A bin
    assert f.add(a + np.array([[0.0, 0.0], [0.05, 0.0]]))   # one atom moved by 0.05 A: a new image
    assert f.add(a + 0.05)
    assert f.count == 3


def test_gaussian_peaks_give_back_the_separation():
    """Locate the two peaks of each image (parabola through the log of the 3 highest pixels per axis:
    exact for a Gaussian) and compare their distance with the stored r12."""
    for dim, grid in ((2, 256), (3, 64)):
        d = generate_dimers(40, dim, Selection("distance", [(1.0, 3.0)]), seed=5)
        images, _, _ = d.images(grid, batch_size=40).collate(np.arange(40))
        h = BOX / grid
        for k in range(40):
            img = images[k, ..., 0].astype(np.float64)
            peaks = []
            for _ in range(2):
                idx = np.unravel_index(np.argmax(img), img.shape)
                centre = []
                for ax in range(dim):
                    lo, hi = list(idx), list(idx)
                    lo[ax] -= 1
                    hi[ax] += 1
                    if min(lo[ax], hi[ax]) < 0 or hi[ax] >= grid:   # peak on the edge: pixel centre
                        centre.append(idx[ax] * h)
                        continue
                    lm, l0, lp = np.log(img[tuple(lo)]), np.log(img[idx]), np.log(img[tuple(hi)])
                    centre.append((idx[ax] + 0.5 * (lm - lp) / (lm - 2 * l0 + lp)) * h)
                peaks.append(np.array(centre))
                sl = tuple(slice(max(i - int(0.6 / h), 0), i + int(0.6 / h) + 1) for i in idx)
                img = img.copy()
                img[sl] = 0.0                              # remove this atom's peak before the next search
            r = np.linalg.norm(peaks[0] - peaks[1])
            assert abs(r - d.r12[k]) < 2e-3 or np.any(d.positions[k] < 2 * h) \
                or np.any(d.positions[k] > BOX - 2 * h), (dim, k, r, d.r12[k])
        assert images.max() <= 1.0 + 1e-6 and images.max() > 0.9      # Z = 1 peaks


def test_split_is_70_30_with_10_percent_validation():
    d = generate_dimers(1000, 2, Selection("distance", [(1.0, 3.0)]), seed=0)
    s = d.split(seed=2)
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (630, 70, 300)
    assert len(np.unique(np.concatenate(list(s.values())))) == 1000


def test_dataset_cache_round_trip_mismatch_and_truncation(tmp_path):
    path = tmp_path / "dimers.h5"
    sel = Selection("distance", [(2.0, 3.0)])
    a = dimer_dataset(path, 300, 3, sel, seed=4)
    with h5py.File(path) as f:
        assert "Lennard-Jones" in json.loads(f["metadata"].asstr()[()])["reference"]
        assert json.loads(f.attrs["params"])["selection"]["intervals"] == [[2.0, 3.0]]
    b = dimer_dataset(path, 300, 3, sel, seed=4)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert b.params == a.params and b.dim == 3
    # other parameters: an error naming the file and the parameter; the cache is not overwritten
    with pytest.raises(CacheMismatchError, match=f"dimer cache {path} .*seed: stored 4, requested 5.*delete it"):
        dimer_dataset(path, 300, 3, sel, seed=5)
    with pytest.raises(CacheMismatchError, match=r"selection.intervals\[0\]\[0\]: stored 2.0, requested 1.5"):
        dimer_dataset(path, 300, 3, Selection("distance", [(1.5, 3.0)]), seed=4)
    np.testing.assert_array_equal(dimer_dataset(path, 300, 3, sel, seed=4).positions, a.positions)
    c = dimer_dataset(tmp_path / "other.h5", 300, 3, sel, seed=5)
    assert not np.array_equal(a.positions, c.positions)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CacheFileError, match=f"{path} is unreadable or truncated.*delete it"):
        dimer_dataset(path, 300, 3, sel, seed=4)


def test_dimer_cache_of_an_earlier_tfatoms_is_converted(tmp_path):
    """The layout before the AtomsData cache (positions (n, 2, dim), r12, energy, params attribute)."""
    sel = Selection("distance", [(1.0, 2.0)])
    d = generate_dimers(50, 2, sel, seed=1)
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:
        for key in ("positions", "r12", "energy"):
            f.create_dataset(key, data=getattr(d, key))
        f.attrs["params"] = json.dumps(d.params)
    with pytest.warns(LegacyCacheWarning, match=f"{path} was in the layout of an earlier tfatoms; converted"):
        old = dimer_dataset(path, 50, 2, sel, seed=1)
    np.testing.assert_array_equal(old.positions, d.positions)
    assert AtomsData.read_hdf5(path).metadata["params"] == d.params        # rewritten as an AtomsData file
    with h5py.File(path, "w") as f:                                          # an old file of other parameters
        f.create_dataset("positions", data=d.positions)
        f.attrs["params"] = json.dumps(dict(d.params, n=49))
    with pytest.raises(CacheMismatchError, match="n: stored 49, requested 50"):
        dimer_dataset(path, 50, 2, sel, seed=1)


@pytest.mark.parametrize("dim", [2, 3])
def test_dimers_are_a_view_of_their_atoms_data(dim):
    d = generate_dimers(20, dim, Selection("distance", [(1.0, 3.0)]), seed=2)
    data = d.to_atoms_data()
    assert data is d.atoms_data and len(data) == 20 and data.units["r12"] == "A"
    assert np.shares_memory(d.positions, data.positions) and d.r12 is data.properties["r12"]
    for k in (0, 7, 19):
        atoms = data[k]
        assert atoms.numbers.tolist() == [1, 1] and not atoms.pbc.any()
        np.testing.assert_array_equal(atoms.positions[:, :dim], d.positions[k])
        assert np.all(atoms.positions[:, dim:] == 0)
        assert atoms.get_distance(0, 1) == pytest.approx(d.r12[k], abs=1e-12)
        assert atoms.get_potential_energy() == d.energy[k] and atoms.info["r12"] == d.r12[k]
    sub = d.subset([3, 1])
    np.testing.assert_array_equal(sub.positions, d.positions[[3, 1]])
    assert sub.params == d.params and sub.dim == dim
    assert sub.to_atoms_data().metadata["subset"]["indices"] == [3, 1]
    # the images are those of the flat positions (z = 0 padding only for 2-D)
    images, _, _ = d.images(32, batch_size=20).collate(np.arange(20))
    assert images.shape[1:1 + dim] == (32,) * dim


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="label"):
        Selection("force", [(0, 1)])
    with pytest.raises(ValueError, match="lo < hi"):
        Selection("distance", [(2.0, 1.0)])
    with pytest.raises(ValueError, match="no separation"):
        generate_dimers(10, 2, Selection("energy", [(0.5, 1.0)]))      # U <= 0 for every r >= 1 A
    with pytest.raises(ValueError, match="dim"):
        generate_dimers(10, 4, Selection("distance", [(1.0, 2.0)]))
    with pytest.raises(ValueError, match="box"):
        Selection("distance", [(1.0, 2.0)], distance_range=(1.0, 12.0))


# ----------------------------------------------------------------------------- networks

def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv3D))]


def test_network_layer_lists():
    n1 = network_1(64, output_offset=2.0)
    convs = _convs(n1)
    assert [(c.filters, c.kernel_size[0], c.strides[0]) for c in convs] == list(NETWORK_1_CONVS)
    assert all(c.padding == "same" for c in convs)
    assert n1.layers[-3].units == 1024 and n1.layers[-2].units == 1
    assert n1.output_shape == (None, 1)
    # untrained: the zero-initialised output layer predicts the offset for any image
    x = np.random.default_rng(0).random((3, 64, 64, 1)).astype("float32")
    np.testing.assert_allclose(n1(x).numpy().ravel(), 2.0)
    n2 = network_2(64)
    assert sum(c.strides[0] == 2 for c in _convs(n2)) == 2 and len(_convs(n2)) == 12
    assert n2.layers[-4].output.shape[-1] == 16 * 16 * 32          # twice the resolution into FC 1024
    n3 = network_1(32, spatial_dims=3)
    assert all(isinstance(c, keras.layers.Conv3D) for c in _convs(n3)) and len(_convs(n3)) == 7
    assert _convs(n3)[2].kernel_size == (4, 4, 4)
    # the EDNN tile CNN is Network 1 on a tile: same weights, layer by layer
    assert [w.shape for w in dft_tile_cnn(64).get_weights()] == [w.shape for w in n1.get_weights()]


def test_shifted_copies_are_the_four_wrapped_images():
    x = np.random.default_rng(1).random((2, 8, 6, 1)).astype("float32")
    y = ShiftedCopies()(x).numpy()
    want = [x, np.roll(x, 4, 1), np.roll(x, 3, 2), np.roll(np.roll(x, 4, 1), 3, 2)]
    np.testing.assert_array_equal(y, np.concatenate(want, axis=0))
    np.testing.assert_array_equal(CopyConcat()(y.reshape(8, -1)).numpy()[1],
                                  np.concatenate([w[1].ravel() for w in want]))


def test_shifted_copies_network_shares_one_network_and_sees_every_boundary_centred():
    keras.utils.set_random_seed(0)
    model = shifted_copies_network(32, convs=((8, 3, 2), (8, 3, 1)), dense_units=16)
    shared = model.get_layer("cnnas_shifted_copies_shared")
    x = np.random.default_rng(2).random((2, 32, 32, 1)).astype("float32")
    feats = [shared(c).numpy() for c in (x, np.roll(x, 16, 1), np.roll(x, 16, 2), np.roll(np.roll(x, 16, 1), 16, 2))]
    dense, out, scale = model.layers[-3], model.layers[-2], model.layers[-1]
    manual = scale(out(dense(np.concatenate(feats, axis=1)))).numpy()
    np.testing.assert_allclose(model(x).numpy(), manual, rtol=1e-5, atol=1e-6)
    # shifting the input by half a period only permutes the four copies (same shared features)
    shifted = [shared(c).numpy() for c in (np.roll(x, 16, 1), x, np.roll(np.roll(x, 16, 1), 16, 2),
                                            np.roll(x, 16, 2))]
    got = CopyConcat()(shared(ShiftedCopies()(np.roll(x, 16, 1)))).numpy()
    np.testing.assert_allclose(got, np.concatenate(shifted, axis=1), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="even"):
        shifted_copies_network(31)


# ----------------------------------------------------------------------------- training and the script

def test_network_1_learns_distances_in_seconds(tmp_path):
    from tfatoms.train.trainer import BatchTrainer, budget_learning_rate

    keras.utils.set_random_seed(0)
    d = generate_dimers(3000, 2, Selection("distance", [(1.0, 3.0)]), seed=0)
    s = d.split(0)
    src = {k: d.subset(i).images(64, "distance", batch_size=32) for k, i in s.items()}
    y = d.r12
    model = network_1(64, output_scale=float(y[s["train"]].std()), output_offset=float(y[s["train"]].mean()))
    steps = 3 * src["train"].n_batches()
    trainer = BatchTrainer(model, learning_rate=budget_learning_rate(3e-4, 3e-6, steps))
    trainer.fit(src["train"], src["val"], tmp_path, max_steps=steps, progress=False)
    mae = trainer.mae(src["test"])
    mean_mae = np.mean(np.abs(y[s["test"]] - y[s["train"]].mean()))
    assert mae < 0.65 * mean_mae, (mae, mean_mae)


@pytest.mark.slow          # 17 s; notebook 02 runs the same networks
def test_reproduction_quick_run(tmp_path):
    import cnnas_dimers as mod

    argv = ["--quick", "--rows", "distance_2d_1_2", "distance_2d_interp", "energy_3d_-1_0", "baselines",
            "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    out = mod.main(argv)
    table = (out.dir / "table.md").read_text()
    for text in ("2D 1 <= r12 <= 2 (A)", "3D -1 <= U <= 0 (eps)", "baseline random forest", "baseline MLP",
                 "extrapolation 1 <= r12 <= 2", "interpolation 1 <= r12 <= 1.67 & 2.33 <= r12 <= 3"):
        assert text in table
    metrics = json.loads((out.dir / "metrics.json").read_text())
    assert metrics["test_mae.distance_2d_1_2"] < 0.5
    details = json.loads((out.dir / "details.json").read_text())
    ev = details["fig5"]["distance_2d_1_2"]
    assert ev["mae_in"] > 0 and ev["mae_out"] > 0
    assert (out.dir / "fig5_interp_extrap.png").exists() and (out.dir / "rows.csv").exists()
    assert json.loads((out.dir / "provenance.json").read_text())["budget"] == "quick"
    # a rerun resumes from the cached datasets and finished checkpoints and gives the same numbers
    again = json.loads((mod.main(argv).dir / "metrics.json").read_text())
    assert again["test_mae.distance_2d_1_2"] == pytest.approx(metrics["test_mae.distance_2d_1_2"], rel=1e-6)


# ----------------------------------------------------------------------------- saving and bad input

def _small_models():
    keras.utils.set_random_seed(0)
    yield shifted_copies_network(16, convs=((4, 3, 2), (4, 3, 1)), dense_units=8, output_offset=1.0)
    yield cnn_regressor((16, 16, 1), ((4, 3, 2),), 8, check_finite=True, name="small_cnn")


def _with_output_weights(model):
    """The zero-initialised output layer would make every prediction the offset: give it weights."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    kernel, bias = dense.get_weights()
    dense.set_weights([np.random.default_rng(3).normal(0, 0.3, kernel.shape).astype("float32"), bias])
    return model


def test_keras_file_round_trip_of_the_shifted_copies_network(tmp_path):
    x = np.random.default_rng(4).random((3, 16, 16, 1)).astype("float32")
    for i, model in enumerate(_small_models()):
        model = _with_output_weights(model)
        want = model.predict(x, verbose=0)
        assert np.ptp(want) > 0                         # predictions depend on the image
        path = tmp_path / f"m{i}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), want)
        np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_cnnas_networks_reject_non_finite_pixels():
    x = np.random.default_rng(5).random((2, 16, 16, 1)).astype("float32")
    x[1, 2, 3, 0] = np.nan
    for model in (*_small_models(), network_2(16, dense_units=8)):
        with pytest.raises(ValueError, match=r"input images contain NaN or infinite pixels.*\(1, 2, 3, 0\)"):
            model(x)
        with pytest.raises(tf.errors.InvalidArgumentError, match="input images contain NaN or infinite pixels"):
            model.predict(x, verbose=0)


def test_finite_check_keeps_weight_files_of_models_without_it_loadable(tmp_path):
    """The check has no weights: weights saved from a model built without it load unchanged."""
    keras.utils.set_random_seed(0)
    plain = _with_output_weights(cnn_regressor((16, 16, 1), ((4, 3, 2),), 8, name="plain"))
    plain.save_weights(tmp_path / "w.weights.h5")
    checked = cnn_regressor((16, 16, 1), ((4, 3, 2),), 8, name="plain", check_finite=True)
    checked.load_weights(tmp_path / "w.weights.h5")
    x = np.random.default_rng(6).random((2, 16, 16, 1)).astype("float32")
    np.testing.assert_array_equal(checked(x).numpy(), plain(x).numpy())


def test_keras_does_not_switch_xla_on_by_itself_for_checked_networks():
    for model in _small_models():
        model.compile(loss="mse", jit_compile="auto")
        assert model.jit_compile is False
