"""mpi/infer_sheet.py (EDNN sec. 3.3): rank-count independence, extensivity, one-process fallback, bad input."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfatoms.data.sheets import PIXEL_SPACING, PorousSheet
from tfatoms.inference.parallel import rank_windows

ROOT = Path(__file__).resolve().parents[1]
MPIRUN = Path(sys.executable).parent / "mpirun"


def _driver():
    spec = importlib.util.spec_from_file_location("infer_sheet", ROOT / "mpi" / "infer_sheet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A freshly initialised EDNN with a random (non-zero) head, stored like the pretrained one."""
    import keras

    from tfatoms.models import EDNN, dft_tile_cnn
    from tfatoms.pretrained import save_ednn

    keras.utils.set_random_seed(1)
    net = dft_tile_cnn(128, output_scale=5.0, output_offset=-77.0)
    w = net.layers[-2].get_weights()
    net.layers[-2].set_weights([np.random.default_rng(1).normal(0, 0.05, w[0].shape).astype("float32"), w[1]])
    directory = tmp_path_factory.mktemp("model")
    save_ednn(EDNN(net, 64, 32), dict(spacing=list(PIXEL_SPACING), gamma=0.2,
                                      tile_network=dict(tile_size=128, output_scale=5.0, output_offset=-77.0)),
              "m", directory)
    return str(directory / "m")


def test_rank_windows_are_balanced_contiguous_and_complete():
    windows = list(range(17))
    for size in (1, 2, 3, 5, 17, 20):
        parts = [rank_windows(windows, r, size) for r in range(size)]
        assert sum(parts, []) == windows
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.skipif(not MPIRUN.exists() or importlib.util.find_spec("mpi4py") is None,
                    reason="mpirun (pip mpich) or mpi4py not installed")
def test_energy_is_independent_of_the_rank_count(tmp_path, model_path):
    energies = {}
    for n in (1, 2, 3):
        out = tmp_path / f"r{n}.json"
        cmd = [str(MPIRUN), "-n", str(n), sys.executable, str(ROOT / "mpi" / "infer_sheet.py"), "--blocks", "4", "3",
               "--window-tiles", "4", "--model", model_path, "--out", str(out)]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        result = json.loads(out.read_text())
        assert result["n_ranks"] == n and result["n_windows"] == 9     # 9 windows: 2 and 3 ranks split unevenly
        assert result["n_atoms"] == len(PorousSheet((4, 3)).positions())
        assert result["n_tiles"] == 12 * 9
        energies[n] = result["energy_eV"]
    e = np.array(list(energies.values()))
    assert np.abs(e - e[0]).max() <= 1e-9 * abs(e[0]), energies


def test_pipeline_is_extensive_over_periodic_copies(tmp_path, model_path):
    import ase.io

    driver = _driver()
    cell = PorousSheet((1, 2), seed=5).atoms()
    ase.io.write(tmp_path / "cell.xyz", cell, format="extxyz")
    ase.io.write(tmp_path / "big.xyz", cell.repeat((3, 3, 1)), format="extxyz")
    one = driver.main(["--structure", str(tmp_path / "cell.xyz"), "--model", model_path,
                       "--out", str(tmp_path / "one.json")])
    nine = driver.main(["--structure", str(tmp_path / "big.xyz"), "--model", model_path, "--window-tiles", "4",
                        "--out", str(tmp_path / "nine.json"), "--map", str(tmp_path / "map.npy")])
    assert nine["n_atoms"] == 9 * one["n_atoms"]
    assert nine["energy_eV"] == pytest.approx(9 * one["energy_eV"], rel=1e-6)
    tile_map = np.load(tmp_path / "map.npy")
    assert tile_map.shape == (9, 18) and tile_map.sum() == pytest.approx(nine["energy_eV"], rel=1e-9)


def test_runs_as_one_process_without_mpi4py(tmp_path, model_path, monkeypatch):
    driver = _driver()
    monkeypatch.setitem(sys.modules, "mpi4py", None)          # import mpi4py now raises ImportError
    assert driver.get_comm() is None
    result = driver.main(["--blocks", "2", "2", "--model", model_path, "--out", str(tmp_path / "r.json")])
    assert result["n_ranks"] == 1 and result["n_atoms"] == len(PorousSheet((2, 2)).positions())
    assert json.loads((tmp_path / "r.json").read_text())["energy_eV"] == result["energy_eV"]


def test_bad_sheet_is_a_clear_error(tmp_path, model_path, capsys):
    import ase.io

    from tfatoms.data.sheets import graphene_sheet

    driver = _driver()
    ase.io.write(tmp_path / "odd.xyz", graphene_sheet(10, 8), format="extxyz")
    with pytest.raises(SystemExit) as exc:
        driver.main(["--structure", str(tmp_path / "odd.xyz"), "--model", model_path, "--out", str(tmp_path / "x.json")])
    assert exc.value.code == 2
    assert "whole number" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_killed_run_resumes_from_its_checkpoint(tmp_path, model_path):
    from tfatoms.inference.parallel import distributed_energy
    from tfatoms.inference.sheet import SheetPredictor
    from tfatoms.pretrained import load_ednn

    model, meta = load_ednn(Path(model_path).name, Path(model_path).parent)
    sheet = PorousSheet((2, 2), seed=3)
    predictor = SheetPredictor.from_ednn(model, meta["spacing"], window_tiles=2)   # 9 windows
    whole = distributed_energy(predictor, sheet, energy_map=True)

    calls = []
    real = predictor.energy

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    predictor.energy = dying
    with pytest.raises(KeyboardInterrupt):
        distributed_energy(predictor, sheet, energy_map=True, checkpoint_dir=tmp_path, run_key="a", chunk_windows=2)
    predictor.energy = lambda *a, **k: calls.append(1) or real(*a, **k)
    resumed = distributed_energy(predictor, sheet, energy_map=True, checkpoint_dir=tmp_path, run_key="a",
                                 chunk_windows=2)
    assert len(calls) == 3 + 3                   # 2 chunks kept, the 3 chunks left (windows 5-9) recomputed
    assert resumed["energy_eV"] == pytest.approx(whole["energy_eV"], rel=1e-12)
    assert resumed["n_atoms"] == whole["n_atoms"]
    np.testing.assert_allclose(resumed["tile_energies"], whole["tile_energies"], rtol=1e-12)
    with pytest.raises(ValueError, match="another run"):
        distributed_energy(predictor, sheet, checkpoint_dir=tmp_path, run_key="b")
