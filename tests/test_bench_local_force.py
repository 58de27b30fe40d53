"""bench/bench_local_force.py: its --quick run writes every figure BENCHMARKS.md reads, and what it times is the
real path (LocalForceCalculator's forces are the batched network's on the same cell).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

pytest.importorskip("lammps")
ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "bench_local_force.py"


@pytest.fixture(scope="module")
def bench():
    return load_script("bench/bench_local_force.py")


@pytest.mark.slow      # about 18 s (a subprocess with TensorFlow and LAMMPS): kept out of the default suite
def test_quick_run_writes_every_field(tmp_path):
    out = tmp_path / "local_force_quick.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--repeats-small", "2", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["quick"] is True
    for key in ("cpu_flags", "load_average", "tensorflow_threads", "lammps", "networks", "checks", "rows", "cells"):
        assert key in res, key
    assert res["tensorflow_threads"]["intra_op"] == 2
    assert set(res["load_average"]) == {"start", "end"}
    assert set(res["cells"]) == {"Al125", "Si128"}          # --quick: the small cells only
    assert res["lammps"]["mpi_ranks"] == 1
    rows = res["rows"]
    for r in rows:
        assert r["ms_per_call"] > 0 and r["repeats"] >= 1
        assert r["atoms_per_s"] == pytest.approx(r["n_atoms"] / np.median(r["times_s"]))
        assert r["ms_per_call"] == pytest.approx(1e3 * np.median(r["times_s"]))
    parts = {(r["system"], r["method"], r["part"]) for r in rows}
    for name in res["networks"]:
        system = "Al" if "Al" in name else "Si"
        for part in ("featurize", "network forward", "calculator (end to end)"):
            assert (system, name, part) in parts, (name, part)
        assert res["networks"][name]["flops_per_atom"] > 0
    assert len(res["networks"]) == 3
    methods = {r["method"] for r in rows}
    assert any(m.startswith("LAMMPS EAM") for m in methods) and any(m.startswith("LAMMPS SW") for m in methods)
    assert any(m.startswith("LAMMPS SNAP") for m in methods) and any(m.startswith("ASE EMT") for m in methods)
    # the network's GFLOP/s is its FLOPs per atom times atoms/s
    for r in rows:
        if r["part"] == "network forward":
            flops = res["networks"][r["method"]]["flops_per_atom"]
            assert r["gflops"] == pytest.approx(flops * r["atoms_per_s"] / 1e9)
    assert len(res["checks"]) == 3 and all(c["allclose"] for c in res["checks"])


def test_calculator_forces_are_the_batched_network_forces(bench):
    """On a rattled 125-atom Al cell, the paper's Al network: LocalForceCalculator == one batched forward."""
    from tfatoms.representations.environments import environment_features

    atoms = bench.rattled_cell("Al", 5, 0.18)
    assert len(atoms) == 125
    x = environment_features(atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, 12)
    forces = np.random.default_rng(0).normal(0.0, 0.5, (125, 3))
    model, _ = bench.build_network(dict(n_neighbors=12, width=250, depth=2), x, forces, atoms.numbers)
    calc_f, net_f = bench.dnn_forces(model, atoms)
    assert calc_f.shape == net_f.shape == (125, 3)
    assert np.abs(net_f).max() > 1e-3                      # adapted: forces at the cell's scale, not ~0
    check = bench.check_forces(calc_f, net_f)
    assert check["allclose"], check
    # and the check catches a real difference (the largest force off by 1 %)
    wrong = calc_f.copy()
    wrong[np.abs(calc_f).sum(axis=1).argmax()] *= 1.01
    assert not bench.check_forces(wrong, net_f)["allclose"]
    # FLOPs per atom: 2 * in * out per Dense, 60 -> 250, CReLU 500 -> 83, CReLU 166 -> 3
    assert bench.network_info(model)["flops_per_atom"] == 2 * (60 * 250 + 500 * 83 + 166 * 3)
