"""The reproduction harness writes tables with ratios, metrics and provenance, atomically."""
import csv
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tfatoms.reproduce import REFERENCES, ResultsWriter, atomic_write, reference  # noqa: E402


def test_results_writer_writes_table_metrics_figure_and_provenance(tmp_path):
    with ResultsWriter("demo", root=tmp_path, seed=7, budget="quick", data_source="generated",
                       reference_method="exact", argv=["reproductions/demo.py", "--quick"]) as out:
        out.add_row("median error c=1", 0.014, "J", paper="ednn/ising_8x8/median_abs_error_f1_c1",
                    metric="median_abs_error_J.f1_c1")
        out.add_row("params", 25601, "", paper=None)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        out.save_figure(fig, "parity")
    d = tmp_path / "demo"
    rows = list(csv.DictReader(open(d / "table.csv")))
    assert rows[0]["paper"] == "0.028" and float(rows[0]["ratio"]) == pytest.approx(0.5)
    assert rows[0]["source"].startswith("EDNN") and rows[1]["ratio"] == ""
    assert "| median error c=1 | 0.014 | 0.028 | 0.5 | J |" in (d / "table.md").read_text()
    assert json.loads((d / "metrics.json").read_text()) == {"median_abs_error_J.f1_c1": 0.014, "params": 25601.0}
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["command"] == "python reproductions/demo.py --quick"
    assert prov["seed"] == 7 and prov["budget"] == "quick" and prov["wall_time_s"] >= 0
    assert {"tensorflow-cpu", "numpy", "keras"} <= set(prov["packages"]) or "tensorflow" in prov["packages"]
    assert prov["hardware"]["cpu_count"] >= 1 and "git_commit" in prov
    assert (d / "parity.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(d.glob(".*tmp*"))


def test_results_writer_writes_nothing_when_the_run_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with ResultsWriter("failed", root=tmp_path) as out:
            out.add_row("x", 1.0)
            raise RuntimeError("training diverged")
    assert not (tmp_path / "failed" / "table.md").exists()


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a" / "b.txt"
    atomic_write(path, "first")
    atomic_write(path, "second")
    assert path.read_text() == "second" and len(list(path.parent.iterdir())) == 1


def test_reference_lookup_and_error_lists_known_keys():
    assert reference("ednn/ising_128x128/median_abs_error").value == 2.055
    assert all(r.unit is not None and r.source for r in REFERENCES.values())
    with pytest.raises(KeyError, match="known for 'ednn'"):
        reference("ednn/nonexistent")
