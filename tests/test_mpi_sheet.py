"""mpi/infer_sheet.py (EDNN sec. 3.3): rank-count independence, extensivity, one-process fallback, bad input."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

from tfatoms.data.sheets import PIXEL_SPACING, PorousSheet
from tfatoms.inference.parallel import rank_windows

ROOT = Path(__file__).resolve().parents[1]
MPIRUN = Path(sys.executable).parent / "mpirun"


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


HAVE_MPI = MPIRUN.exists() and importlib.util.find_spec("mpi4py") is not None


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory, model_path):
    """``run(ranks, threads, launcher)``: the energy of one run of mpi/infer_sheet.py (each run once per module)."""
    directory, cache = tmp_path_factory.mktemp("runs"), {}

    def run(ranks, threads, launcher="mpirun"):
        if (ranks, threads, launcher) not in cache:
            cache[ranks, threads, launcher] = _run_script(directory, model_path, ranks, threads, launcher)
        return cache[ranks, threads, launcher]
    return run


def _run_script(tmp_path, model_path, ranks, threads, launcher="mpirun"):
    """One run of mpi/infer_sheet.py on a 4 x 3 block sheet (9 windows of up to 4 x 4 tiles); its energy."""
    out = tmp_path / f"{launcher}-r{ranks}-t{threads}.json"
    cmd = [sys.executable, str(ROOT / "mpi" / "infer_sheet.py"), "--blocks", "4", "3", "--window-tiles", "4",
           "--threads", str(threads), "--model", model_path, "--out", str(out)]
    if launcher == "mpirun":
        cmd = [str(MPIRUN), "-n", str(ranks)] + cmd
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"report written to {out}" in proc.stdout
    result = json.loads(out.read_text())
    assert result["n_ranks"] == ranks and result["n_windows"] == 9     # 9 windows: 2 and 3 ranks split unevenly
    assert result["n_atoms"] == len(PorousSheet((4, 3)).positions())
    assert result["n_tiles"] == 12 * 9
    # the thread count really reached TensorFlow (set before it started)
    assert result["threads_per_rank"] == threads and result["threads_applied"]
    assert result["tf_intra_op_threads"] == threads
    return result["energy_eV"]


@pytest.mark.slow            # two mpirun launches, about 29 s (kept out of the 10-minute default suite)
@pytest.mark.skipif(not HAVE_MPI, reason="mpirun (pip mpich) or mpi4py not installed")
def test_energy_is_independent_of_the_rank_count(script_runs):
    # one thread per rank for every rank count: the ranks are the only variable. Each window's tiles go
    # through the network in the same batches whatever rank holds the window, and the partial energies
    # are float64 sums of float32 tile energies, so the total is the same bit for bit
    energies = {n: script_runs(n, threads=1) for n in (1, 3)}      # 3 ranks: an uneven split of the windows
    assert energies[1] == energies[3], energies


def test_energy_depends_on_the_thread_count_only_at_float32_round_off(script_runs):
    # TensorFlow splits a convolution's float32 reductions by its thread count, so 1 and 2 threads sum in a
    # different order and each tile energy (about -77 eV) may move by a few float32 ulps (eps = 6e-8 relative);
    # the issue measured 7e-9 relative on a whole sheet. A float64 sum of N tile energies of one sign, each
    # off by at most k ulps, is off by at most k * 6e-8 relative whatever N: 1e-6 allows k = 16, while a
    # real error (one of the 108 tiles lost or counted twice: 1e-2 relative) fails by orders of magnitude.
    launcher = "mpirun" if HAVE_MPI else "python"
    one, two = script_runs(1, threads=1, launcher=launcher), script_runs(1, threads=2, launcher=launcher)
    print(f"1 thread {one!r} eV, 2 threads {two!r} eV: {abs(two - one) / abs(one):.2e} relative")
    assert two == pytest.approx(one, rel=1e-6, abs=0)


def test_pipeline_is_extensive_over_periodic_copies(tmp_path, model_path):
    import ase.io

    driver = load_script("mpi/infer_sheet.py")
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
    driver = load_script("mpi/infer_sheet.py")
    monkeypatch.setitem(sys.modules, "mpi4py", None)          # import mpi4py now raises ImportError
    from tfatoms.reproduce.ranks import get_comm

    assert get_comm() is None
    result = driver.main(["--blocks", "2", "2", "--model", model_path, "--out", str(tmp_path / "r.json")])
    assert result["n_ranks"] == 1 and result["n_atoms"] == len(PorousSheet((2, 2)).positions())
    assert json.loads((tmp_path / "r.json").read_text())["energy_eV"] == result["energy_eV"]


def test_bad_sheet_is_a_clear_error(tmp_path, model_path, capsys):
    import ase.io

    from tfatoms.data.sheets import graphene_sheet

    driver = load_script("mpi/infer_sheet.py")
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


def test_help_says_where_the_report_goes(capsys):
    driver = load_script("mpi/infer_sheet.py")
    with pytest.raises(SystemExit):
        driver.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "sheet_energy.json in the current directory" in text


def _cell_file(tmp_path, name="s.xyz", drop=0):
    import ase.io

    atoms = PorousSheet((1, 2), seed=5).atoms()
    if drop:
        del atoms[:drop]
    path = tmp_path / name
    ase.io.write(path, atoms, format="extxyz")
    return path


def test_checkpoint_is_keyed_by_the_structure_and_model_content(tmp_path, model_path, capsys):
    import shutil

    driver = load_script("mpi/infer_sheet.py")
    structure, ckpt = _cell_file(tmp_path), tmp_path / "ck"
    args = ["--structure", str(structure), "--model", model_path, "--checkpoint", str(ckpt)]
    first = driver.main(args + ["--out", str(tmp_path / "a.json")])
    assert f"report written to {tmp_path / 'a.json'}" in capsys.readouterr().out
    # the same content under another file name resumes: the key is the atoms, not the path
    shutil.copy(structure, tmp_path / "copy.xyz")
    again = driver.main(["--structure", str(tmp_path / "copy.xyz"), "--model", model_path, "--checkpoint",
                         str(ckpt), "--out", str(tmp_path / "b.json")])
    assert again["energy_eV"] == first["energy_eV"] and again["windows_resumed"] == again["n_windows"]
    assert "resumed from checkpoint" in capsys.readouterr().out
    # throughput of a resumed run counts only the atoms it computed (none here)
    assert again["n_atoms_computed"] == 0 and again["n_atoms_resumed"] == first["n_atoms"]
    assert again["atoms_per_s"] == 0
    # 41 atoms deleted from the same file: not the old energy, a clear error
    _cell_file(tmp_path, drop=41)
    with pytest.raises(SystemExit) as exc:
        driver.main(args + ["--out", str(tmp_path / "c.json")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "error: checkpoint in" in err and "different sheet" in err, err
    assert "remove it or use another checkpoint directory" in err.lower()
    assert not (tmp_path / "c.json").exists()
    # another model (same name and architecture, other weights) is refused the same way
    from tfatoms.pretrained import load_ednn, save_ednn

    model, meta = load_ednn(Path(model_path).name, Path(model_path).parent)
    weights = model.tile_network.get_weights()
    model.tile_network.set_weights([w * 1.01 for w in weights])
    save_ednn(model, {k: meta[k] for k in ("spacing", "gamma", "tile_network")}, "m", tmp_path / "other")
    other = tmp_path / "other"
    _cell_file(tmp_path)
    with pytest.raises(SystemExit):
        driver.main(["--structure", str(structure), "--model", str(other / "m"), "--checkpoint", str(ckpt),
                     "--out", str(tmp_path / "d.json")])
    assert "different model" in capsys.readouterr().err


def test_map_added_to_a_finished_checkpointed_run(tmp_path, model_path):
    driver = load_script("mpi/infer_sheet.py")
    args = ["--structure", str(_cell_file(tmp_path)), "--model", model_path, "--checkpoint", str(tmp_path / "ck"),
            "--window-tiles", "2"]
    plain = driver.main(args + ["--out", str(tmp_path / "a.json")])
    with_map = driver.main(args + ["--out", str(tmp_path / "b.json"), "--map", str(tmp_path / "m.npy")])
    tile_map = np.load(tmp_path / "m.npy")
    assert with_map["energy_eV"] == pytest.approx(plain["energy_eV"], rel=1e-12)
    assert tile_map.shape == (3, 6) and tile_map.sum() == pytest.approx(plain["energy_eV"], rel=1e-9)
    # now the map is in the checkpoint: a rerun with the map resumes everything
    resumed = driver.main(args + ["--out", str(tmp_path / "c.json"), "--map", str(tmp_path / "m2.npy")])
    assert resumed["n_atoms_computed"] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "m2.npy"), tile_map)


def _bad_cases(tmp_path):
    (tmp_path / "adir").mkdir(exist_ok=True)
    (tmp_path / "afile").write_text("x")
    return [
        (["--area", "-1"], "--area must be a positive"),
        (["--area", "nan"], "--area must be a positive"),
        (["--side", "0"], "--side must be a positive"),
        (["--blocks", "0", "2"], "--blocks must be two positive"),
        (["--threads", "-1"], "--threads must be a positive integer"),
        (["--threads", "0"], "--threads must be a positive integer"),
        (["--batch", "0"], "--batch must be a positive integer"),
        (["--window-tiles", "-3"], "--window-tiles must be a positive integer"),
        (["--map", str(tmp_path / "m.npy"), "--map-downsample", "0"], "--map-downsample must be a positive"),
        (["--out", str(tmp_path / "adir")], "is a directory"),
        (["--out", str(tmp_path / "afile" / "r.json")], "is a file, not a directory"),
        (["--map", str(tmp_path / "adir")], "is a directory"),
        (["--map", str(tmp_path / "r.json")], "are the same file"),
        (["--checkpoint", str(tmp_path / "afile")], "is an existing file"),
        (["--structure", str(tmp_path / "absent.xyz")], "does not exist"),
    ]


@pytest.mark.parametrize("case", range(15))
def test_bad_arguments_fail_before_any_work(tmp_path, model_path, capsys, monkeypatch, case):
    import tfatoms.inference.parallel

    driver = load_script("mpi/infer_sheet.py")
    argv, message = _bad_cases(tmp_path)[case]

    def too_late(*args, **kwargs):
        raise AssertionError("the argument should have been refused before this")

    monkeypatch.setattr(driver, "load_model", too_late)
    monkeypatch.setattr(tfatoms.inference.parallel, "distributed_energy", too_late)
    size = [] if {"--blocks", "--area", "--side", "--structure"} & set(argv) else ["--blocks", "1", "1"]
    with pytest.raises(SystemExit) as exc:
        driver.main(size + ["--model", model_path, "--out", str(tmp_path / "r.json")] + argv)   # last --out wins
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "r.json").exists()


def test_map_downsample_larger_than_the_tile_grid_fails_before_the_work(tmp_path, model_path, capsys, monkeypatch):
    import tfatoms.inference.parallel

    driver = load_script("mpi/infer_sheet.py")
    monkeypatch.setattr(tfatoms.inference.parallel, "distributed_energy",
                        lambda *a, **k: pytest.fail("refused too late"))
    with pytest.raises(SystemExit) as exc:
        driver.main(["--blocks", "1", "2", "--model", model_path, "--out", str(tmp_path / "r.json"),
                     "--map", str(tmp_path / "m.npy"), "--map-downsample", "1000"])
    assert exc.value.code == 2 and "larger than the tile grid 3 x 6" in capsys.readouterr().err


def test_report_and_map_are_written_atomically(tmp_path, model_path, monkeypatch):
    driver = load_script("mpi/infer_sheet.py")
    out, tile_map = tmp_path / "out" / "r.json", tmp_path / "out" / "map.dat"   # folder created, any map name
    result = driver.main(["--blocks", "1", "1", "--model", model_path, "--out", str(out), "--map", str(tile_map)])
    assert json.loads(out.read_text())["energy_eV"] == result["energy_eV"]
    assert np.load(tile_map).shape == (3, 3)
    assert sorted(p.name for p in out.parent.iterdir()) == ["map.dat", "r.json"]      # no temporaries left

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        driver.main(["--blocks", "1", "1", "--model", model_path, "--out", str(tmp_path / "r2.json"),
                     "--map", str(tmp_path / "m2.npy")])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".m2", "m2", ".r2", "r2"))) == []


def test_threads_cannot_change_once_tensorflow_runs_in_process(tmp_path, model_path, capsys):
    # main() called from Python after TensorFlow started: its thread count is fixed, and the run says so
    import numba
    import tensorflow as tf

    driver = load_script("mpi/infer_sheet.py")
    numba_threads = numba.get_num_threads()
    tf.constant(1.0) + 1.0                                   # TensorFlow's runtime is up in this process
    current = tf.config.threading.get_intra_op_parallelism_threads()
    wanted = current + 5
    assert driver.set_threads(wanted) is False
    result = driver.main(["--blocks", "1", "1", "--model", model_path, "--threads", str(wanted),
                          "--out", str(tmp_path / "r.json")])
    assert f"warning: --threads {wanted} not applied to TensorFlow" in capsys.readouterr().err
    assert result["threads_applied"] is False and result["tf_intra_op_threads"] == current
    assert driver.set_threads(current) is True               # asking for what it has is fine
    numba.set_num_threads(numba_threads)
