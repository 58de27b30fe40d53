"""The C20 study's pieces (thesis sec. 5.3): the cage, the generated MD dataset (tfatoms.data.molecular_md), the
molecular analyses (tfatoms.inference.molecular), the rho = 0 integration constant and float64 copies
(tfatoms.reproduce.md_runs), and i-PI path-integral MD over its socket (tfatoms.inference.pimd)."""
import importlib.util

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from tfatoms.data.cache import CacheMismatchError
from tfatoms.data.molecular_md import c20_cage, generate_md_dataset, load_md_dataset, md_dataset_params
from tfatoms.inference.molecular import bond_lengths, cage_distributions, distinct_lengths, normal_modes

PHI = (1 + 5 ** 0.5) / 2


def test_c20_cage_is_the_regular_dodecahedron():
    cage = c20_cage(1.45)
    bonds = bond_lengths(cage)
    assert len(cage) == 20 and len(bonds) == 30 and np.allclose(bonds, 1.45)
    d = cage.get_all_distances()
    assert ((d < 1.7) & (d > 0)).sum(axis=1).tolist() == [3] * 20          # three neighbours each
    assert np.allclose(np.linalg.norm(cage.positions, axis=1), 1.45 * 3 ** 0.5 * PHI / 2)   # circumradius
    dist = cage_distributions(cage.positions[None])
    assert np.allclose(dist["nearest"], 1.45) and np.allclose(dist["diameter"], 1.45 * 3 ** 0.5 * PHI)
    assert len(dist["pairs"]) == 190


def test_distinct_lengths_splits_at_the_largest_gaps():
    lengths = [1.41] * 6 + [1.452, 1.448] * 6 + [1.52] * 12
    assert np.allclose(distinct_lengths(lengths), [1.41, 1.45, 1.52])
    with pytest.raises(ValueError, match="cannot form 3 groups"):
        distinct_lengths([1.4, 1.5])


def test_normal_mode_of_a_lennard_jones_dimer_is_the_analytic_one():
    """V''(r_min) = 72 eps / (2^(1/3) sigma^2): omega = sqrt(V''/mu) in cm^-1."""
    from ase import units

    sigma, eps = 3.4, 0.0104
    dimer = Atoms("Ar2", positions=[(0, 0, 0), (0, 0, 2 ** (1 / 6) * sigma)])
    freqs = normal_modes(dimer, LennardJones(sigma=sigma, epsilon=eps, rc=20.0), delta=0.002)
    k = 72 * eps / (2 ** (1 / 3) * sigma ** 2)                  # eV/A^2
    mu = dimer.get_masses()[0] / 2
    omega = np.sqrt(k / mu) * units.s / (2 * np.pi) / (units._c * 100)   # cm^-1 (s per ASE time unit)
    assert freqs[-1] == pytest.approx(omega, rel=2e-3)
    assert np.abs(freqs[:-1]).max() < 0.05 * omega            # translations and rotations


def _emt_dataset(tmp_path, steps=12, **kw):
    return generate_md_dataset(tmp_path / "c20.h5", "C20", c20_cage(), calculator="emt", temperature=500.0,
                               steps=steps, timestep_fs=1.0, checkpoint_every=4, progress=False, **kw)


def test_md_dataset_labels_are_the_reference_at_the_frames_and_it_is_cached_by_its_parameters(tmp_path):
    data = load_md_dataset(_emt_dataset(tmp_path))
    assert len(data) == 12 and data.properties["md_step"].tolist() == list(range(1, 13))
    calc = EMT()
    for k in (0, 11):                                          # the stored labels are the reference's
        atoms = data[k]
        atoms.calc = calc
        assert atoms.get_potential_energy() == pytest.approx(data.properties["energy"][k], abs=1e-9)
        assert np.allclose(atoms.get_forces(), data.properties["forces"][data.atom_slice(k)], atol=1e-9)
    assert data.metadata["relaxed_fmax_eV_A"] <= 1e-3 and len(data.metadata["relaxed_positions"]) == 20
    assert not (tmp_path / "c20.h5.parts").exists()            # the parts go once the file is written
    assert _emt_dataset(tmp_path) == tmp_path / "c20.h5"       # found, not regenerated
    with pytest.raises(CacheMismatchError, match="steps"):
        _emt_dataset(tmp_path, steps=13)


def test_md_dataset_resumes_after_a_kill(tmp_path, monkeypatch):
    """A kill during the MD leaves the relaxed start and the checkpoint; the rerun gives the uninterrupted frames."""
    import tfatoms.data.reference as reference

    whole = load_md_dataset(_emt_dataset(tmp_path / "whole"))
    real_step, calls = reference._single_point, []

    def dying(calc, atoms, properties, reset=True):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return real_step(calc, atoms, properties, reset)

    monkeypatch.setattr(reference, "_single_point", dying)
    with pytest.raises(KeyboardInterrupt):
        _emt_dataset(tmp_path / "killed")
    assert (tmp_path / "killed" / "c20.h5.parts" / "relaxed.npz").exists()
    monkeypatch.setattr(reference, "_single_point", real_step)
    resumed = load_md_dataset(_emt_dataset(tmp_path / "killed"))
    assert np.allclose(resumed.positions, whole.positions, atol=1e-10)
    assert np.allclose(resumed.properties["energy"], whole.properties["energy"], atol=1e-10)


def test_md_dataset_params_reject_bad_input():
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        md_dataset_params("C20", c20_cage(), temperature=-1)
    with pytest.raises(ValueError, match="interval"):
        md_dataset_params("C20", c20_cage(), steps=5, interval=10)
    bad = c20_cage()
    bad.positions[3, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        md_dataset_params("C20", bad)


def test_force_only_integration_constant_and_float64_copy():
    """model_copy shifts the energy by N * shift and leaves the forces; a float64 copy predicts the same."""
    import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)
    from tfatoms.calculators import TfatomsCalculator
    from tfatoms.models import SchNet
    from tfatoms.representations.padded import MoleculeBatches
    from tfatoms.reproduce.md_runs import model_copy

    cage = c20_cage()
    model = SchNet(n_features=8, n_interactions=1, rbf_cutoff=5.0)
    src = MoleculeBatches(cage.numbers, cage.positions, np.array([0, 20]), np.zeros(1), batch_size=1)
    _, batch, _, _ = next(src.batches())
    base = TfatomsCalculator(model)
    atoms = cage.copy()
    atoms.positions += np.random.default_rng(0).normal(scale=0.05, size=(20, 3))
    atoms.calc = base
    e0, f0 = atoms.get_potential_energy(), atoms.get_forces()
    for copy, tol in ((model_copy(model, batch, per_atom_shift=0.25), 1e-5),
                      (model_copy(model, batch, per_atom_shift=0.25, dtype="float64"), 1e-5)):
        a = atoms.copy()
        a.calc = TfatomsCalculator(copy)
        assert a.get_potential_energy() == pytest.approx(e0 + 20 * 0.25, abs=tol)
        assert np.allclose(a.get_forces(), f0, atol=1e-5)
    assert model_copy(model, batch, dtype="float64").compute_dtype == "float64"


needs_ipi = pytest.mark.skipif(importlib.util.find_spec("ipi") is None, reason="i-PI (pip install ipi) missing")


@needs_ipi
def test_ipi_pimd_serves_every_bead_over_the_socket():
    from tfatoms.inference.pimd import ipi_md

    sigma = 3.4
    cluster = Atoms("Ar3", positions=[(0, 0, 0), (2 ** (1 / 6) * sigma, 0, 0),
                                      (2 ** (1 / 6) * sigma / 2, 2 ** (1 / 6) * sigma * 3 ** 0.5 / 2, 0)])
    run = ipi_md(cluster, LennardJones(sigma=sigma, epsilon=0.0104, rc=12.0), temperature=30.0, steps=20, beads=4,
                 stride=5, timestep_fs=2.0, seed=3, progress=False)
    assert run["positions"].shape == (5, 4, 3, 3) and run["step"].tolist() == [0, 5, 10, 15, 20]
    assert run["calls"] == 21 * 4                               # the start, then one call per bead and step
    d = run["positions"][0, 0] - run["positions"][0, 0].mean(axis=0)
    assert np.allclose(d, cluster.positions - cluster.positions.mean(axis=0), atol=1e-5)   # starts at atoms
    assert np.ptp(run["positions"][-1], axis=0).max() > 0       # the beads have spread
    assert np.isfinite(run["potential_eV"]).all()


@needs_ipi
def test_ipi_failure_names_the_cause():
    from tfatoms.inference.pimd import ipi_md

    with pytest.raises(ValueError, match="molecule .* or a fully periodic cell"):
        ipi_md(Atoms("Ar", cell=[5, 5, 5], pbc=[True, True, False]), LennardJones(), steps=2, progress=False)
    with pytest.raises(TypeError, match="needs an ASE calculator"):
        ipi_md(Atoms("Ar2", positions=[(0, 0, 0), (0, 0, 3.8)]), "lj", steps=2, progress=False)


@pytest.mark.slow
@needs_ipi
def test_quick_script_run_end_to_end(tmp_path):
    """reproductions/schnet_c20.py --quick with EMT as the reference (about 70 s): data, two Table 5.6 models,
    relaxations, modes, classical MD and PIMD through i-PI, the table and figures."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reproductions"))
    import schnet_c20

    res = schnet_c20.main(["--quick", "--reference", "emt", "--out", str(tmp_path / "out"),
                           "--cache-dir", str(tmp_path / "cache")])
    out = tmp_path / "out" / "schnet_c20_quick"
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"forces_mae_kcal_mol_A.test.T3_F64_rho0", "max_frequency_error_percent", "nearest_max_A.pimd",
            "seconds.schnet"} <= set(metrics)
    assert res["runs"]["pimd"]["positions"].shape[1] == 8 and metrics["ps.classical"] == pytest.approx(0.05)
    assert (out / "fig5_6_md_pimd.png").is_file() and (out / "fig5_4_5_relaxed_cage_and_modes.png").is_file()
