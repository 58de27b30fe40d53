"""reproductions/schnet_c60.py (the thesis' C20 protocol, sec. 5.3, on the real C60 DFT-1 set): a missing or wrong
data file is a clear error before any work; the experimental references it compares with; the data file parses
with its ``force`` column as forces (needs ../shared/data/c60_dft, skipped without it: the package never depends on
../shared); the quick run writes every row and resumes from its finished checkpoint."""
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TFATOMS_SHARED_DATA", ROOT.parent / "shared" / "data")) / "c60_dft" / "train_dft1.xyz"
needs_data = pytest.mark.skipif(not DATA.is_file(), reason=f"C60 DFT-1 set not found at {DATA}")


@pytest.fixture(scope="module")
def script():
    return load_script("reproductions/schnet_c60.py")


def test_missing_or_wrong_data_is_a_clear_error_before_any_work(script, tmp_path, capsys):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    out, cache = tmp_path / "out", tmp_path / "cache"
    common = ["--quick", "--out", str(out), "--cache-dir", str(cache)]
    with pytest.raises(SystemExit) as exc:
        script.main([*common, "--data", str(tmp_path / "nope.xyz")])
    assert exc.value.code == 2 and "--data " + str(tmp_path / "nope.xyz") + ": no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        script.main(common)
    assert exc.value.code == 2 and "--data is required" in capsys.readouterr().err
    methane = Atoms("CH4", positions=[(0, 0, 0), (0.63, 0.63, 0.63), (-0.63, -0.63, 0.63), (-0.63, 0.63, -0.63),
                                      (0.63, -0.63, -0.63)])
    methane.calc = SinglePointCalculator(methane, energy=-1.0, forces=np.zeros((5, 3)))
    write(tmp_path / "ch4.xyz", methane, format="extxyz")
    with pytest.raises(SystemExit) as exc:
        script.main([*common, "--data", str(tmp_path / "ch4.xyz")])
    assert exc.value.code == 2 and "ch4.xyz: structure 0 is not C60" in capsys.readouterr().err
    assert not out.exists() and not cache.exists()


def test_experimental_references_are_the_cited_measurements():
    from tfatoms.reproduce.references import REFERENCES

    bonds = {k: REFERENCES[f"experiment/c60/{k}"] for k in ("bond_66", "bond_56", "diameter")}
    assert (bonds["bond_66"].value, bonds["bond_56"].value, bonds["diameter"].value) == (1.401, 1.458, 7.113)
    assert all(r.unit == "A" and r.source == "Hedberg et al., Science 254, 410 (1991)" for r in bonds.values())
    ir = [REFERENCES[f"experiment/c60/ir_t1u_{k}"] for k in (1, 2, 3, 4)]
    assert [r.value for r in ir] == [527.0, 577.0, 1183.0, 1429.0]
    assert all(r.unit == "cm^-1" and "Nature 347, 354 (1990)" in r.source for r in ir)


def test_closest_modes_matches_each_line_by_frequency():
    from tfatoms.inference.molecular import closest_modes

    freqs = np.array([270.0, 520.0, 530.0, 580.0, 1200.0])
    assert closest_modes(freqs, [527, 577, 1183, 1429]).tolist() == [2, 3, 4, 4]    # a line may share a mode
    with pytest.raises(ValueError, match="no frequencies"):
        closest_modes([], [527])


@needs_data
def test_data_file_is_366_c60_frames_with_the_force_column_as_forces(script):
    from ase.io import read

    p, args = script.parse_args(["--data", str(DATA)])
    data = script.read_c60(p, args.data)
    assert len(data) == 366 and set(np.diff(data.ptr).tolist()) == {60} and (data.numbers == 6).all()
    f = data.properties["forces"]
    assert f.shape == (366 * 60, 3) and np.isfinite(f).all() and np.isfinite(data.properties["energy"]).all()
    first = read(DATA, index=0, format="extxyz")                # the file calls them "force" (eV/A)
    assert np.allclose(f[:60], first.arrays["force"])
    assert f[0, 0] == pytest.approx(-0.5880535239431679) and data.units["forces"] == "eV/A"
    assert data.properties["energy"][0] == pytest.approx(-87.60003760837)
    # what the all-pairs SchNet needs: no frame wrapped across the 25 A box (the largest distance is the cage's)
    assert script.all_pairs_rbf_cutoff(data) == 9.0


@pytest.mark.slow
@needs_data
def test_quick_run_writes_every_row_and_resumes(script, tmp_path, capsys):
    """The quick run, then a second one loading the finished checkpoint (both together 1.5-2 min on 2 shared cores)."""
    argv = ["--quick", "--data", str(DATA), "--cache-dir", str(tmp_path / "cache")]
    res = script.main([*argv, "--out", str(tmp_path / "a")])
    out = tmp_path / "a" / "schnet_c60_quick"
    metrics = json.loads((out / "metrics.json").read_text())
    expected = {f"{q}.{who}" for q in ("energy_mae_kcal_mol", "energy_rmse_kcal_mol", "forces_mae_kcal_mol_A",
                                       "forces_rmse_kcal_mol_A") for who in ("test", "mean_predictor")}
    expected |= {"energy_mae_meV_atom.test", "energy_rmse_meV_atom.test", "energy_std_kcal_mol", "energy_std_meV_atom",
                 "forces_std_kcal_mol_A", "relax_fmax_kcal_mol_A", "bonds.model", "bond_66_A", "bond_56_A",
                 "bonds_66.model", "bonds_56.model", "diameter_A", "lowest_frequency_cm", "highest_frequency_cm",
                 "imaginary_modes", "rigid_body_max_cm", "seconds.schnet"} | {f"ir_t1u_{k}_cm" for k in (1, 2, 3, 4)}
    assert set(metrics) == expected and all(math.isfinite(v) for v in metrics.values())
    assert metrics["bonds.model"] == 90 and (metrics["bonds_66.model"], metrics["bonds_56.model"]) == (30, 60)
    assert metrics["relax_fmax_kcal_mol_A"] <= 1e-4 and len(res["frequencies"]) == 174
    assert 1.2 < metrics["bond_66_A"] < metrics["bond_56_A"] < 1.6
    table = (out / "table.md").read_text()
    assert "Hedberg et al., Science 254, 410 (1991)" in table and "| 1429 |" in table
    assert (out / "forces_parity_and_modes.png").is_file()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["training"]["steps"] == 20 and len(prov["split"]["test"]) == 20
    capsys.readouterr()
    again = script.main([*argv, "--out", str(tmp_path / "b")])
    assert "loaded finished model" in capsys.readouterr().out
    assert again["test"]["forces_mae"] == pytest.approx(res["test"]["forces_mae"], rel=1e-6)
