"""MD with the shipped SchNet behind ASE: the filter-generating networks evaluated (default) or tabulated.

Velocity Verlet (0.5 fs) of one ethanol molecule with ``TfatomsCalculator("schnet_rmd17_ethanol")``, once with
the networks and once with ``tabulated_filters=True`` (``tfatoms.layers.filter_table``), in alternating rounds
from the same start; reports ms per MD step (the median over rounds) and how far the two trajectories' energies
drift apart (float32 round-off grows chaotically in MD, so only the first steps agree closely).

    python bench/bench_tabulated_md.py [--steps 400] [--rounds 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)
import numpy as np
import tensorflow as tf
from ase import units
from ase.build import molecule
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet

from tfatoms.calculators import TfatomsCalculator
from tfatoms.reproduce.results import atomic_write, hardware, package_versions


def run(calc, steps: int, seed: int = 0):
    atoms = molecule("CH3CH2OH")
    MaxwellBoltzmannDistribution(atoms, temperature_K=500, rng=np.random.default_rng(seed))
    atoms.calc = calc
    atoms.get_forces()                               # compile outside the timed steps
    energies = []
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    dyn.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
    t0 = time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - t0) / steps, np.array(energies)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="bench/results/tabulated_md.json")
    args = p.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    calcs = {kind: TfatomsCalculator("schnet_rmd17_ethanol", tabulated_filters=kind == "tabulated")
             for kind in ("network", "tabulated")}
    seconds = {kind: [] for kind in calcs}
    energies = {}
    for _ in range(args.rounds):
        for kind, calc in calcs.items():
            s, e = run(calc, args.steps)
            seconds[kind].append(s)
            energies[kind] = e
    diff = np.abs(energies["tabulated"] - energies["network"])
    result = {"molecule": "ethanol (9 atoms)", "model": "schnet_rmd17_ethanol", "steps": args.steps,
              "rounds": args.rounds, "threads": args.threads,
              "ms_per_step": {k: 1e3 * float(np.median(v)) for k, v in seconds.items()},
              "ms_per_step_rounds": {k: [1e3 * x for x in v] for k, v in seconds.items()},
              "speedup": float(np.median(seconds["network"]) / np.median(seconds["tabulated"])),
              "total_energy_difference_eV": {"first_10_steps_max": float(diff[:10].max()),
                                             "all_steps_max": float(diff.max())},
              "energy_drift_eV": {k: float(e[-1] - e[0]) for k, e in energies.items()},
              "hardware": hardware(), "packages": package_versions()}
    atomic_write(Path(args.out), json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("hardware", "packages")}, indent=1))


if __name__ == "__main__":
    main()
