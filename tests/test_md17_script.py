"""reproductions/schnet_md17.py (thesis ch. 5 on rMD17 ethanol): a missing data file is a clear error before any
work; the quick run trains energies and forces end to end and writes its table (needs the rMD17 file, skipped
without it; the package never depends on ../shared); ``--table51`` has thesis Table 5.1's unshared and shared-filter
rows with the thesis' numbers, and its quick run trains them all."""
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "reproductions"))
DATA = Path(os.environ.get("TFATOMS_SHARED_DATA", ROOT.parent / "shared" / "data")) / "rmd17_ethanol" / "train.xyz"


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    import schnet_md17

    with pytest.raises(SystemExit) as exc:
        schnet_md17.main(["--quick", "--data", str(tmp_path / "nope.xyz"), "--out", str(tmp_path)])
    assert exc.value.code == 2 and "nope.xyz: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        schnet_md17.main(["--quick", "--out", str(tmp_path)])
    assert "--data is required" in capsys.readouterr().err


@pytest.mark.skipif(not DATA.is_file(), reason=f"rMD17 ethanol not found at {DATA}")
def test_quick_run_trains_energies_and_forces(tmp_path):
    import schnet_md17

    test, md = schnet_md17.main(["--quick", "--data", str(DATA), "--out", str(tmp_path / "out"),
                                 "--cache-dir", str(tmp_path / "cache"), "--save-model", str(tmp_path / "m.keras")])
    metrics = json.loads((tmp_path / "out" / "schnet_md17_quick" / "metrics.json").read_text())
    assert {"energy_mae_meV.test", "forces_mae_meV_A.test", "nve_max_drift_meV_atom"} <= set(metrics)
    # 60 steps already halve the force error of the untrained model (about 0.86 eV/A on this split)
    assert test["forces_mae"] < 0.7 and md["steps"] == 100 and (tmp_path / "m.keras").is_file()
    # --energies-only: the same budget on energies alone, beside the given energy+force model's errors measured
    # in the same run (they are the errors above: same model, same split); forces not in the loss stay worse
    e_only, ef = schnet_md17.main(["--quick", "--data", str(DATA), "--out", str(tmp_path / "out"), "--energies-only",
                                   "--cache-dir", str(tmp_path / "cache"), "--model", str(tmp_path / "m.keras")])
    assert ef["forces_mae"] == pytest.approx(test["forces_mae"], rel=1e-6)
    assert e_only["forces_mae"] > ef["forces_mae"]
    metrics = json.loads((tmp_path / "out" / "schnet_md17_energy_only_quick" / "metrics.json").read_text())
    assert metrics["force_mae_ratio_energy_only"] == pytest.approx(e_only["forces_mae"] / ef["forces_mae"])
    # the shipped model was trained on the default split: on the quick split it is refused before any training
    with pytest.raises(SystemExit) as exc:
        schnet_md17.main(["--quick", "--data", str(DATA), "--out", str(tmp_path / "out2"), "--energies-only",
                          "--cache-dir", str(tmp_path / "cache")])
    assert "another split" in str(exc.value) and not (tmp_path / "out2").exists()


@pytest.mark.skipif(not DATA.is_file(), reason=f"rMD17 ethanol not found at {DATA}")
def test_md_only_reproduces_the_shipped_models_committed_test_errors(tmp_path):
    """--md-only trains nothing: the shipped model on the seed-0 split gives the test errors committed in
    reproductions/results/schnet_md17 (and its .json), and the NVE check runs with it."""
    import schnet_md17

    committed = json.loads((ROOT / "reproductions" / "results" / "schnet_md17" / "metrics.json").read_text())
    test, md = schnet_md17.main(["--md-only", "--md-ps", "0.05", "--data", str(DATA), "--out", str(tmp_path)])
    # to float32 round-off, which differs between CPUs (AVX2 against AVX-512 hosts: 3e-6 of 18.4 meV/A measured)
    # and between kernels that are equal in exact arithmetic (the shifted softplus and half-pair filters changed the
    # order of float32 operations after the model was trained). The energies are float32 totals near -4209 eV, whose
    # spacing is 0.49 meV: each prediction moves by a fraction of it and the MAE over 150 structures by about
    # 0.01 meV (3.3e-3 meV measured after the kernel change); 0.05 meV is still 1 % of the committed 4.37 meV.
    assert test["energy_mae"] * 1000 == pytest.approx(committed["energy_mae_meV.test"], abs=0.05)
    assert test["forces_mae"] * 1000 == pytest.approx(committed["forces_mae_meV_A.test"], rel=1e-6)
    assert md["steps"] == 100 and md["max_drift_meV_per_atom"] < 1.0


def test_table51_rows_have_the_thesis_numbers():
    """Table 5.1's rows: unshared T = 1, 2, 3, 6 and shared T = 2, 3, 6 at rho = 0.01 (thesis sec. 5.2.1), energy
    and force MAE and RMSE of each from the thesis (N = 1,000), and the energy-only T = 3 model of Tables 5.3/5.4."""
    import schnet_md17
    from tfatoms.reproduce.references import REFERENCES

    rows = schnet_md17.TABLE51_ROWS
    assert [r for r in rows if not r[2]] == [(1, 0.01, False), (2, 0.01, False), (3, 0.01, False), (6, 0.01, False),
                                             (3, None, False)]
    assert [r for r in rows if r[2]] == [(2, 0.01, True), (3, 0.01, True), (6, 0.01, True)]
    thesis = {2: (0.08, 0.16, 0.43, 0.82), 3: (0.08, 0.12, 0.39, 0.68), 6: (0.08, 0.13, 0.40, 0.69)}
    for t, values in thesis.items():
        for q, v in zip(("energy_mae", "energy_rmse", "forces_mae", "forces_rmse"), values):
            ref = REFERENCES[f"thesis/schnet_md17/ethanol_T{t}_shared/{q}"]
            assert ref.value == v and ref.source == "thesis Table 5.1"
            assert f"thesis/schnet_md17/ethanol_T{t}/{q}" in REFERENCES


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_file(), reason=f"rMD17 ethanol not found at {DATA}")
def test_quick_table51_trains_the_unshared_and_shared_rows(tmp_path):
    import schnet_md17

    runs = schnet_md17.main(["--quick", "--table51", "--max-steps", "2", "--data", str(DATA),
                             "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")])
    assert set(runs) == set(schnet_md17.TABLE51_ROWS)
    out = tmp_path / "out" / "schnet_md17_table51_quick"
    metrics = json.loads((out / "metrics.json").read_text())
    keys = ["ethanol_T1", "ethanol_T2", "ethanol_T3", "ethanol_T6", "ethanol_energy_only",
            "ethanol_T2_shared", "ethanol_T3_shared", "ethanol_T6_shared"]
    quantities = ("energy_mae", "energy_rmse", "forces_mae", "forces_rmse")
    assert {f"{q}.test.{k}" for q in quantities for k in keys} | {
        "force_mae_ratio_energy_only", "force_mae_ratio_T1_T3", "force_mae_ratio_shared_T2",
        "force_mae_ratio_shared_T3", "force_mae_ratio_shared_T6"} == set(metrics)
    import csv

    paper = {r["quantity"]: r["paper"] for r in csv.DictReader((out / "table.csv").open())}
    assert paper["T=3 shared filters, energy+forces: force mae (test)"] == "0.39"
    assert paper["T=6 shared filters, energy+forces: energy rmse (test)"] == "0.13"
    assert paper["T=3, energy+forces: force rmse (test)"] == "0.72"              # the unshared rows as before
    n = json.loads((out / "provenance.json").read_text())["runs"]
    # SchNet F = 64: sharing saves T - 1 filter networks of n_rbf * 64 + 64 + 64 * 64 + 64 parameters each
    one = (n["T3_0.01"]["parameters"] - n["T3_0.01_shared"]["parameters"]) // 2
    assert one > 64 * 64 + 128 and (one - 64 * 64 - 128) % 64 == 0
    for t in (2, 6):
        assert n[f"T{t}_0.01"]["parameters"] - n[f"T{t}_0.01_shared"]["parameters"] == (t - 1) * one
