"""mpi/predict.py: energies and forces of many structures over MPI ranks, identical for 1, 2 and 3 ranks, equal to
the ASE calculator's, resumable from a checkpoint with another rank count, and clear errors before any work."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

ROOT = Path(__file__).resolve().parents[1]
MPIRUN = Path(sys.executable).parent / "mpirun"
HAVE_MPI = MPIRUN.exists() and importlib.util.find_spec("mpi4py") is not None
MODEL = "schnet_rmd17_ethanol"          # shipped: H, C, O


@pytest.fixture(scope="module")
def structures(tmp_path_factory):
    """23 rattled ethanol, methanol and water molecules (6 batches of 4, the last one short)."""
    frames = []
    for k in range(23):
        atoms = molecule(["CH3CH2OH", "CH3OH", "H2O"][k % 3])
        atoms.rattle(0.05, seed=k)
        atoms.info["label"] = float(k)
        frames.append(atoms)
    path = tmp_path_factory.mktemp("input") / "in.xyz"
    ase.io.write(path, frames)
    return path


def run(args, ranks=1, cwd=None):
    cmd = [sys.executable, str(ROOT / "mpi" / "predict.py"), *map(str, args), "--threads", "1"]
    if ranks > 1:
        cmd = [str(MPIRUN), "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.fixture(scope="module")
def runs(structures, tmp_path_factory):
    """The same 23 structures on 1, 2 and 3 ranks (the 1-rank run with a checkpoint), outputs as HDF5."""
    directory = tmp_path_factory.mktemp("runs")
    out = {}
    for ranks in (1, 2, 3):
        path = directory / f"out{ranks}.h5"
        extra = ["--checkpoint", directory / "ckpt"] if ranks == 1 else []
        proc = run(["--input", structures, "--model", MODEL, "--out", path, "--batch-size", 4, *extra], ranks)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "23 structures (141 atoms)" in proc.stdout and f"on {ranks} rank(s)" in proc.stdout
        out[ranks] = path
    return directory, out


@pytest.mark.slow   # 5 mpirun runs, about 40 s: kept out of the 10-minute default suite
@pytest.mark.skipif(not HAVE_MPI, reason="mpirun and mpi4py are needed")
def test_outputs_are_identical_for_1_2_and_3_ranks_and_equal_the_calculator(runs):
    from tfatoms.calculators import TfatomsCalculator
    from tfatoms.data.atoms import AtomsData

    _, out = runs
    data = {ranks: AtomsData.read_hdf5(path) for ranks, path in out.items()}
    for key in ("predicted_energy", "predicted_forces"):              # bit for bit
        np.testing.assert_array_equal(data[1].properties[key], data[2].properties[key])
        np.testing.assert_array_equal(data[1].properties[key], data[3].properties[key])
    assert data[1].units["predicted_forces"] == "eV/A"
    calc = TfatomsCalculator(MODEL)
    for k, atoms in enumerate(data[1]):
        assert data[1].properties["label"][k] == float(k)                # input order, input labels kept
        atoms.calc = calc
        assert abs(data[1].properties["predicted_energy"][k] - atoms.get_potential_energy()) < 1e-4
        np.testing.assert_allclose(data[1].properties["predicted_forces"][data[1].atom_slice(k)], atoms.get_forces(),
                                   atol=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_MPI, reason="mpirun and mpi4py are needed")
def test_resume_with_another_rank_count_computes_only_the_missing_batches(structures, runs, tmp_path):
    from tfatoms.data.atoms import AtomsData

    directory, out = runs
    ckpt = directory / "ckpt"
    stored = sorted(ckpt.glob("batch_*.npz"))
    assert len(stored) == 6
    for path in stored[1:4]:                                          # as if killed before these were written
        path.unlink()
    resumed = tmp_path / "resumed.xyz"                                # and extended XYZ this time
    proc = run(["--input", structures, "--model", MODEL, "--batch-size", 4, "--checkpoint", ckpt, "--out", resumed],
               ranks=2)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 of 6 batches were done" in proc.stdout
    frames = ase.io.read(resumed, ":")
    first = AtomsData.read_hdf5(out[1])
    np.testing.assert_array_equal([a.info["predicted_energy"] for a in frames], first.properties["predicted_energy"])
    np.testing.assert_allclose(np.concatenate([a.arrays["predicted_forces"] for a in frames]),
                               first.properties["predicted_forces"], rtol=0, atol=1e-8)   # XYZ keeps 8 decimals
    # another input with the same checkpoint: an error naming what differs, before any prediction
    other = tmp_path / "other.xyz"
    frames = ase.io.read(structures, ":")
    frames[0].positions[0, 0] += 0.01
    ase.io.write(other, frames)
    proc = run(["--input", other, "--model", MODEL, "--batch-size", 4, "--checkpoint", ckpt, "--out",
                tmp_path / "c.h5"])
    assert proc.returncode == 2 and "holds the progress of another run: input" in proc.stderr


def test_bad_input_is_a_clear_error_before_any_work(structures, tmp_path):
    proc = run(["--input", tmp_path / "none.xyz", "--model", MODEL, "--out", tmp_path / "o.xyz"])
    assert proc.returncode == 2 and "error: --input" in proc.stderr and "no such file" in proc.stderr
    proc = run(["--input", structures, "--model", MODEL, "--out", tmp_path, "--batch-size", 4])
    assert proc.returncode == 2 and "is a directory" in proc.stderr
    proc = run(["--input", structures, "--model", MODEL, "--out", tmp_path / "o.xyz", "--batch-size", 0])
    assert proc.returncode == 2 and "--batch-size" in proc.stderr
    copper = tmp_path / "cu.xyz"
    ase.io.write(copper, [molecule("H2O"), Atoms("CuO", positions=[[0, 0, 0], [1.8, 0, 0]])])
    proc = run(["--input", copper, "--model", MODEL, "--out", tmp_path / "o.xyz"])
    assert proc.returncode == 2
    assert "structure 1" in proc.stderr and "element Cu (Z = 29) is not among the elements" in proc.stderr
    assert not (tmp_path / "o.xyz").exists()                          # nothing half-written
