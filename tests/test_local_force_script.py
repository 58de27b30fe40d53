"""reproductions/local_force_dnn.py (Kuritz et al. Table 1, Figs. 2-8) and its data: the paper's cells, the
snapshot split, the RDF, the --quick run (files, finite metrics, better than the mean predictor) and its resume."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from tfatoms.data.local_force import (REFERENCES, SYSTEMS, radial_distribution, reference_method, snapshot_split,
                                      trajectory_params)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reproductions"))

FIGURES = ("fig2_parity", "fig3_mae_vs_neighbours", "fig4_rdf", "fig5_temperature_transfer", "fig6_size_transfer",
           "fig7_mae_vs_width", "fig8_mae_vs_depth")


def test_cells_have_the_papers_atom_counts_and_lattice_constants():
    counts = {el: [s.n_atoms(m) for m in s.sizes] for el, s in SYSTEMS.items()}
    assert counts == {"Al": [27, 125], "Na": [27, 125], "Si": [16, 128]}
    al = SYSTEMS["Al"].supercell(3)
    nn = np.sort(al.get_all_distances(mic=True)[0])[1]
    assert nn == pytest.approx(4.05 / np.sqrt(2), abs=1e-9)             # fcc, a = 4.05 A
    na = SYSTEMS["Na"].supercell(3)
    assert np.sort(na.get_all_distances(mic=True)[0])[1] == pytest.approx(4.29 * np.sqrt(3) / 2, abs=1e-9)
    si = SYSTEMS["Si"].supercell(2)
    assert np.sort(si.get_all_distances(mic=True)[0])[1] == pytest.approx(5.43 * np.sqrt(3) / 4, abs=1e-9)
    # snapshots: Al every 50 fs (NVE), Na and Si every 1 fs (thermostatted)
    assert (SYSTEMS["Al"].thermostat, SYSTEMS["Al"].interval_fs) == ("nve", 50.0)
    assert {SYSTEMS[e].thermostat for e in ("Na", "Si")} == {"langevin"}
    assert {SYSTEMS[e].interval_fs for e in ("Na", "Si")} == {1.0}


def test_split_is_the_papers_1620_180_by_snapshot_and_seeded():
    s = snapshot_split(1800, 180, seed=4)
    assert len(s["train"]) == 1620 and len(s["val"]) == 180
    assert not set(s["train"]) & set(s["val"]) and len(set(s["train"]) | set(s["val"])) == 1800
    again = snapshot_split(1800, 180, seed=4)
    assert np.array_equal(s["val"], again["val"])
    assert not np.array_equal(s["val"], snapshot_split(1800, 180, seed=5)["val"])
    with pytest.raises(ValueError, match="n_val"):
        snapshot_split(10, 10, 0)


def test_references_are_keyed_and_checked():
    assert reference_method("Al").calculator == "emt"
    assert reference_method("Na").key == "meam" and reference_method("Si").key == "sw"
    assert reference_method("Na", "gfn1-xtb").calculator == "gfn1-xtb"
    with pytest.raises(ValueError, match="not available for Al"):
        reference_method("Al", "sw")
    a = trajectory_params("Na", 3, 300, 100, 0)
    b = trajectory_params("Na", 3, 300, 100, 0, reference="gfn1-xtb")
    assert a["reference"] != b["reference"]             # the reference is part of the cache key
    assert "rc = 4.8" in a["reference"]["files"]["Na_rc4.8.meam"]
    assert REFERENCES["sw"].kwargs["pair_coeff"].endswith("Si.sw Si")


def test_rdf_of_the_small_cells_reaches_beyond_half_the_cell():
    """27-atom fcc Al is 7.0 A across: ASE's get_rdf alone stops at 3.5 A; the repeated cell gives the shells
    up to 6 A, at the fcc distances a/sqrt2, a, a sqrt(3/2), a sqrt2 with 12, 6, 24, 12 neighbours."""
    al = SYSTEMS["Al"].supercell(3)
    g, r = radial_distribution([al], rmax=6.0, nbins=600)
    dr = r[1] - r[0]
    rho = len(al) / al.get_volume()
    counts = g * 4 * np.pi * r ** 2 * dr * rho           # neighbours per bin
    for shell, n in ((1 / np.sqrt(2), 12), (1.0, 6), (np.sqrt(1.5), 24), (np.sqrt(2), 12)):
        near = np.abs(r - 4.05 * shell) < 0.03
        assert counts[near].sum() == pytest.approx(n, rel=0.02)
    assert counts[r < 2.8].sum() == 0


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    import local_force_dnn as mod

    root = tmp_path_factory.mktemp("local_force")
    argv = ["--quick", "--out", str(root / "out"), "--cache-dir", str(root / "cache")]
    out = mod.main(argv)
    first = {name: json.loads((out.dir / name).read_text()) for name in ("metrics.json", "provenance.json")}
    again = mod.main(argv)
    second = {name: json.loads((again.dir / name).read_text()) for name in ("metrics.json", "provenance.json")}
    return out.dir, first, second


@pytest.mark.slow   # the --quick run takes about 50 s: kept out of the 10-minute default suite
def test_quick_run_writes_every_table_and_figure(quick):
    out, first, _ = quick
    for name in ("table.md", "table.csv", "table1.md", "runs.csv", "metrics.json", "provenance.json"):
        assert (out / name).stat().st_size > 0, name
    for fig in FIGURES:
        assert (out / f"{fig}.png").stat().st_size > 10_000, fig
    table = (out / "table.md").read_text()
    for text in ("Table 1 Al 2000 K (27 atoms)", "Table 1 Si 300 K (16 atoms)", "| 0.025 |", "| 0.004 |",
                 "Fig. 6 Na 2000 K: MAE trained 27 atoms, tested 125", "conclusion: Si hot->cold"):
        assert text in table, text
    table1 = (out / "table1.md").read_text()
    for text in ("ASE EMT", "LAMMPS MEAM", "Stillinger-Weber", "reference mean abs force"):
        assert text in table1
    prov = first["provenance.json"]
    assert prov["budget"] == "quick" and prov["seed"] == 0
    assert prov["references"] == {"Al": "emt", "Na": "meam", "Si": "sw"}
    assert {d["role"] for d in prov["datasets"]} == {"train", "test", "large"}


@pytest.mark.slow   # the --quick run takes about 50 s: kept out of the 10-minute default suite
def test_quick_metrics_are_finite_and_beat_the_mean_predictor(quick):
    """Measured (seed 0): validation MAE / mean-predictor MAE 0.11 (Na 300 K) .. 0.62 (Al 2000 K), mean 0.27."""
    _, first, _ = quick
    metrics = first["metrics.json"]
    assert all(math.isfinite(v) for v in metrics.values())
    ratios = []
    for el in ("Al", "Na", "Si"):
        for t in ("300K", "2000K"):
            mae, mean = metrics[f"mae_eV_A.val.{el}_{t}"], metrics[f"mean_predictor_mae_eV_A.val.{el}_{t}"]
            assert 0 < mae < 0.8 * mean, (el, t, mae, mean)
            ratios.append(mae / mean)
    assert np.mean(ratios) < 0.45, ratios
    # the sweep of the quick budget (Si, 2000 K): one neighbour is far worse than twelve
    sweep = "sweep_neighbours.val_mae_eV_A.Si_2000K"
    assert metrics[f"{sweep}.1"] > 1.5 * metrics[f"{sweep}.12"]


@pytest.mark.slow   # the --quick run takes about 50 s: kept out of the 10-minute default suite
def test_rerun_reuses_data_and_models_and_gives_the_same_numbers(quick):
    _, first, second = quick
    models1, models2 = first["provenance.json"]["models"], second["provenance.json"]["models"]
    assert models1["trained"] == models1["planned"] == 10 and models1["loaded_from_checkpoint"] == 0
    assert models2["trained"] == 0 and models2["loaded_from_checkpoint"] == models2["planned"]
    assert not any(d["cached"] for d in first["provenance.json"]["datasets"])
    assert all(d["cached"] for d in second["provenance.json"]["datasets"])
    for key, value in first["metrics.json"].items():
        if not key.startswith("wall_seconds"):
            assert second["metrics.json"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
