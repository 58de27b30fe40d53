"""The committed PBE/def2-SVP reference for ethanol (reproductions/ethanol_pbe_frequencies.py, PySCF) is a consistent
minimum of the rMD17 method, and the shipped SchNet (tfatoms.pretrained, schnet_rmd17_ethanol) vibrates like it.

The reference is read from the committed results.json, so these tests need neither PySCF nor the rMD17 file."""
import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "reproductions" / "results" / "ethanol_pbe_frequencies" / "results.json"

# The shipped model at its own minimum (BFGS from the PBE minimum to fmax 1e-3 eV/A, ase.vibrations central
# differences of +-0.01 A) against the PBE/def2-SVP analytic Hessian, 21 modes in ascending order.
# Measured here (2 threads, as tests/conftest.py sets): MAE 4.67 cm^-1, max |error| 14.7 cm^-1 (mode 4, at
# 781 cm^-1), RMSD of the two minima 0.0023 A. The same numbers within 0.3 cm^-1 and 0.0001 A
# for BFGS from the rMD17 start instead (the notebook's path), for a 0.005 A step, or for fmax 0.01 (4.84, 14.2 cm^-1),
# so they measure the model, not the procedure. Bounds: 1.5 x the measured values.
MAE_BOUND_CM1 = 7.0
MAX_BOUND_CM1 = 22.0
RMSD_BOUND_A = 0.0035
# PySCF's projected 3N - 6 analysis and the unprojected VibrationsData eigenvalues differ by < 0.003 cm^-1 here.
PROJECTED_ATOL_CM1 = 0.05
# Two normal modes of this method named by wavenumber in the README of the BOTNet distribution of rMD17 ethanol
# (../shared/data/rmd17_ethanol/README.md: test_norm_mode_874.xyz, test_norm_mode_3005.xyz; ORCA 4.2).
ORCA_MODES_CM1 = (874.0, 3005.0)


def real_modes(freqs):
    """The 3N - 6 vibrations: drop the six frequencies of smallest magnitude (imaginary ones as negative), sorted."""
    f = np.asarray(freqs)
    if np.iscomplexobj(f):
        f = np.where(np.abs(f.imag) > np.abs(f.real), -np.abs(f.imag), f.real)
    return np.sort(f[np.argsort(np.abs(f))[6:]])


@pytest.fixture(scope="module")
def ref():
    return json.loads(RESULTS.read_text())


def pbe_minimum(ref) -> Atoms:
    return Atoms(ref["symbols"], positions=ref["relaxed"]["positions"])


def test_reference_is_a_converged_pbe_minimum_of_ethanol(ref):
    atoms = pbe_minimum(ref)
    assert atoms.get_chemical_formula() == "C2H6O" and len(atoms) == 9
    assert (ref["method"], ref["basis"].lower(), ref["budget"]) == ("PBE", "def2-svp", "default")
    relax = ref["relaxation"]
    assert relax["converged"] and relax["max_force"] <= relax["fmax"] <= 1e-3
    assert relax["energies"][-1] == ref["relaxed"]["energy"] < ref["start"]["energy"]
    # the settings reproduce the rMD17 method at the starting configuration (ORCA vs PySCF, both RI-J)
    assert abs(ref["start"]["energy_minus_rmd17_meV"]) < 2.0 and ref["start"]["forces_mae_vs_rmd17_meV_A"] < 0.2
    # ethanol's bonds (rMD17 atom order C C O H H H H H H, hydroxyl H last), PBE lengths in A
    d = atoms.get_all_distances()
    assert 1.50 < d[0, 1] < 1.55 and 1.40 < d[0, 2] < 1.47 and 0.96 < d[2, 8] < 1.00
    for h in range(3, 8):
        carbon = int(np.argmin(d[h, :2]))
        assert 1.09 < d[h, carbon] < 1.13
    assert sorted(int(np.argmin(d[h, :2])) for h in range(3, 8)) == [0, 0, 1, 1, 1]   # CH2 and CH3
    assert ref["relaxed"]["conformer"] in ("trans", "gauche")


def test_reference_frequencies_are_21_real_vibrations(ref):
    from ase.vibrations import VibrationsData

    f = np.asarray(ref["frequencies_cm1"])
    assert f.shape == (27,) and np.all(np.diff(f) >= 0)
    near_zero = f[np.argsort(np.abs(f))[:6]]
    real = real_modes(f)
    assert np.abs(near_zero).max() < 30.0 and real.min() > 150.0        # six rigid motions, 21 vibrations
    # the stored Hessian gives the stored frequencies, and PySCF's projected analysis agrees with them
    hessian = np.asarray(ref["hessian"])
    assert hessian.shape == (27, 27) and np.allclose(hessian, hessian.T, atol=1e-10)
    assert np.allclose(real_modes(VibrationsData.from_2d(pbe_minimum(ref), hessian).get_frequencies()), real,
                       atol=1e-6)
    assert np.allclose(ref["frequencies_projected_cm1"], real, atol=PROJECTED_ATOL_CM1)
    # O-H stretch on top, then five C-H stretches, a gap (no mode in 1600-2800 cm^-1), 15 modes below
    assert 3500 < real[-1] < 3900 and np.all((real[-6:-1] > 2800) & (real[-6:-1] < 3200)) and real[-7] < 1600
    # PySCF reproduces the modes ORCA found with the same method to about 1 cm^-1 (measured: 0.6 and 0.9)
    for mode in ORCA_MODES_CM1:
        assert np.abs(real - mode).min() < 1.5, mode


def test_shipped_schnet_vibrates_like_pbe(ref, tmp_path):
    from ase.build import minimize_rotation_and_translation
    from ase.optimize import BFGS
    from ase.vibrations import Vibrations

    from tfatoms.calculators import TfatomsCalculator

    pbe = pbe_minimum(ref)
    mol = pbe.copy()
    mol.calc = TfatomsCalculator("schnet_rmd17_ethanol")
    assert BFGS(mol, logfile=None).run(fmax=1e-3, steps=500)
    vib = Vibrations(mol, name=str(tmp_path / "vib"), delta=0.01, nfree=2)
    vib.run()
    err = real_modes(vib.get_frequencies()) - real_modes(ref["frequencies_cm1"])
    aligned = mol.copy()
    minimize_rotation_and_translation(pbe, aligned)
    rmsd = np.sqrt(np.mean(np.sum((aligned.positions - pbe.positions) ** 2, axis=1)))
    print(f"SchNet - PBE: MAE {np.abs(err).mean():.2f} cm^-1, max {np.abs(err).max():.2f} cm^-1, RMSD {rmsd:.4f} A")
    assert np.abs(err).mean() < MAE_BOUND_CM1 and np.abs(err).max() < MAX_BOUND_CM1 and rmsd < RMSD_BOUND_A


def test_script_names_a_missing_data_file(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(ROOT / "reproductions"))
    import ethanol_pbe_frequencies

    with pytest.raises(SystemExit) as exc:
        ethanol_pbe_frequencies.main(["--data", str(tmp_path / "nope.xyz"), "--out", str(tmp_path)])
    assert exc.value.code == 2 and "nope.xyz: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ethanol_pbe_frequencies.main(["--out", str(tmp_path)])
    assert "--data is required" in capsys.readouterr().err
