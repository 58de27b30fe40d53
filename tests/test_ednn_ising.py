"""A tiny EDNN trained on Ising data for seconds beats the mean predictor by far, its 16x16 predictions
are the sum over its tiles, and the reproduction script runs end to end in --quick mode."""
import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tfatoms.data.ising import ising_energy, sample_ising
from tfatoms.layers import TileExtract
from tfatoms.models import EDNN, ising_tile_network

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reproductions"))


def test_tiny_ednn_learns_ising_energy_and_sums_tiles():
    keras.utils.set_random_seed(0)
    train = sample_ising(3000, 8, seed=10, progress=False)
    test = sample_ising(500, 8, seed=11, progress=False)
    model = EDNN(ising_tile_network(1, 1), 1, 1)
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    model.fit(train["spins"][..., None].astype("float32"), train["energy"], batch_size=100, epochs=4, verbose=0)
    pred = model.predict(test["spins"][..., None].astype("float32"), verbose=0)[:, 0]
    model_mae = np.mean(np.abs(pred - test["energy"]))
    mean_mae = np.mean(np.abs(train["energy"].mean() - test["energy"]))
    assert model_mae < mean_mae / 10, (model_mae, mean_mae)

    big = sample_ising(4, 16, seed=12, progress=False)["spins"][..., None].astype("float32")
    tiles, _ = TileExtract(1, 1)(big)
    per_tile = model.tile_network.predict(tiles, verbose=0).reshape(4, -1).sum(axis=1)
    np.testing.assert_allclose(model.predict(big, verbose=0)[:, 0], per_tile, rtol=1e-5, atol=1e-3)
    big_true = ising_energy(big[..., 0])
    assert np.mean(np.abs(model.predict(big, verbose=0)[:, 0] - big_true)) < np.mean(np.abs(big_true)) / 5


@pytest.mark.slow          # 50 s: the quick script trains 7 models twice (resume); notebook 01 runs its models
def test_reproduction_script_quick(tmp_path, capsys):
    import warnings

    import ednn_ising
    ednn_ising.main(["--quick", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")])
    assert "Epoch 1/4" in capsys.readouterr().out  # a line per epoch in quick mode too
    d = tmp_path / "out" / "ednn_ising_quick"
    metrics = json.loads((d / "metrics.json").read_text())
    assert {"median_abs_error_J.test_8x8.f1_c1", "median_abs_error_J.test_128x128.f1_c1", "study.seeds_ordered",
            *(f"study.median_abs_error_J.test_8x8.f1_c{c}.seed{s}" for c in (1, 2, 3) for s in (0, 1))} <= set(metrics)
    assert metrics["param_ratio.c3_over_c1"] > 7
    assert all((d / f).exists() for f in ("table.md", "table.csv", "provenance.json", "fig3_ising_8x8.png",
                                          "fig8_ising_128x128.png", "focus_context.png"))
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["budget"] == "quick" and prov["command"].endswith("--quick --out " + str(tmp_path / "out") +
                                                                   " --cache-dir " + str(tmp_path / "cache"))
    # a second call resumes from the finished checkpoints instead of retraining, says so, and warns nothing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ednn_ising.main(["--quick", "--out", str(tmp_path / "out2"), "--cache-dir", str(tmp_path / "cache")])
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    out = capsys.readouterr().out
    assert out.count("loaded finished model from checkpoint") == 7 and "Epoch 1/" not in out
    again = json.loads((tmp_path / "out2" / "ednn_ising_quick" / "metrics.json").read_text())
    assert again["median_abs_error_J.test_8x8.f1_c1"] == metrics["median_abs_error_J.test_8x8.f1_c1"]


def test_bad_seed_rejected_before_any_work(tmp_path, capsys):
    import ednn_ising
    import pytest

    for seed, message in (("-1", "2**32 - 1"), (str(2**32 - 1), "--seed must be between 0 and 2**32 - 1 - 2")):
        with pytest.raises(SystemExit) as exit_info:
            ednn_ising.main(["--quick", "--seed", seed, "--out", str(tmp_path), "--cache-dir", str(tmp_path)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "--seed" in err and message in err, err
    assert list(tmp_path.iterdir()) == []  # no dataset generated, nothing written


def test_sample_ising_rejects_negative_seed():
    import pytest

    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        sample_ising(10, 4, seed=-1, progress=False)
