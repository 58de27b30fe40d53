"""reproductions/schnet_qm9.py and dtnn_qm9.py run end to end on real QM9 in --quick mode,
write their tables with provenance, learn far better than the mean predictor, resume
finished runs without retraining, and reject unknown properties."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reproductions"))

MEAN_PREDICTOR_U0_MAE = 190.0  # kcal/mol: |U0_at - mean| on QM9 (std 238 kcal/mol)


@pytest.fixture(scope="module")
def cache(qm9_cache_dir):
    """The session's QM9 cache (parsed once); the scripts keep their checkpoints under it too."""
    return qm9_cache_dir


def test_schnet_qm9_quick_and_resume(tmp_path, cache, capsys):
    import schnet_qm9
    args = ["--quick", "--no-jit", "--n-train", "600", "--cache-dir", str(cache)]   # one size: the suite's time
    schnet_qm9.main(args + ["--out", str(tmp_path / "a")])
    out = capsys.readouterr().out
    assert "schnet U0, n_train=600: 150 steps" in out and "epoch 1: step" in out  # progress in quick mode too
    d = tmp_path / "a" / "schnet_qm9_quick"
    metrics = json.loads((d / "metrics.json").read_text())
    assert 0 < metrics["mae.U0.n600"] < 0.2 * MEAN_PREDICTOR_U0_MAE
    assert metrics["n_params.schnet"] > 150_000  # F = 64, T = 6 (thesis Fig. 4.2), 126 RBF centres
    assert all((d / f).exists() for f in ("table.md", "provenance.json", "parity_U0_n600.png"))
    assert not (d / "learning_curve_U0.png").exists()        # one training size: no curve to draw
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["budget"] == "quick" and "qm9pack" in prov["data_source"]
    schnet_qm9.main(args + ["--out", str(tmp_path / "b")])  # finished checkpoints: evaluate only
    out = capsys.readouterr().out
    assert out.count("loaded finished model from checkpoint") == 1 and "skipping training" in out
    assert "epoch 1: step" not in out
    again = json.loads((tmp_path / "b" / "schnet_qm9_quick" / "metrics.json").read_text())
    assert again["mae.U0.n600"] == metrics["mae.U0.n600"]


def test_schnet_qm9_rejects_unknown_property(cache):
    import schnet_qm9
    with pytest.raises(SystemExit):
        schnet_qm9.main(["--quick", "--properties", "U7", "--cache-dir", str(cache)])


def test_dtnn_qm9_quick(tmp_path, cache):
    import dtnn_qm9
    dtnn_qm9.main(["--quick", "--no-jit", "--interactions", "1", "2", "--cache-dir", str(cache),
                   "--out", str(tmp_path)])
    d = tmp_path / "dtnn_qm9_quick"
    metrics = json.loads((d / "metrics.json").read_text())
    assert 0 < metrics["mae.U0.T2.n500"] < 0.25 * MEAN_PREDICTOR_U0_MAE
    assert metrics["isomers.kendall_tau"] > 0.0
    assert (d / "fig3_7_isomers.png").exists()


@pytest.mark.parametrize("script,argv,message", [
    ("schnet_qm9", ["--n-train", "0"], "--n-train must be between 1 and 120,331"),
    ("schnet_qm9", ["--n-train", "500", "200000"], "--n-train must be between 1 and 120,331"),
    ("schnet_qm9", ["--max-steps", "-1"], "--max-steps: must be a positive integer, got -1"),
    ("schnet_qm9", ["--max-steps", "0"], "--max-steps: must be a positive integer, got 0"),
    ("schnet_qm9", ["--time-limit", "0"], "--time-limit: must be a finite number > 0, got 0"),
    ("schnet_qm9", ["--seed", "-1"], r"--seed.* 0 .*2\*\*32 - 1"),
    ("schnet_qm9", ["--seed", str(2**32)], r"--seed.* 0 .*2\*\*32 - 1"),
    ("dtnn_qm9", ["--n-train", "0"], "--n-train must be between 1"),
    ("dtnn_qm9", ["--interactions", "0"], "--interactions: must be a positive integer, got 0"),
    ("dtnn_qm9", ["--max-steps", "0"], "--max-steps: must be a positive integer, got 0"),
])
def test_bad_values_rejected_before_loading_data(script, argv, message, cache, monkeypatch, capsys):
    module = __import__(script)

    def no_data(*args, **kwargs):
        raise AssertionError("arguments must be checked before QM9 is loaded")

    monkeypatch.setattr(module, "load_qm9", no_data)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--quick", *argv, "--cache-dir", str(cache)])
    assert exit_info.value.code == 2
    import re
    assert re.search(message, capsys.readouterr().err)
