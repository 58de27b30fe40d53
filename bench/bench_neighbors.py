"""Neighbour-list libraries compared: vesin vs ase.neighborlist.neighbor_list.

Times the raw library calls (full list, i, j and integer shifts) on a periodic
~2,000-atom cell and on a 20-atom molecule, plus tfatoms' ``neighbor_pairs``
wrapper (vesin + validation + sorting). Prints a table and writes JSON.

    NUMBA_NUM_THREADS=2 .venv/bin/python bench/bench_neighbors.py
"""
import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list
from vesin import NeighborList

from tfatoms.representations.neighbors import neighbor_pairs


def best_time(fn, repeats):
    fn()                                   # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), float(np.min(times))


def systems(cutoff):
    cu = bulk("Cu", "fcc", a=3.61, cubic=True) * (8, 8, 8)          # 2,048 atoms, 28.9 A box
    cu.rattle(0.1, seed=0)
    rng = np.random.default_rng(0)
    mol = Atoms(numbers=rng.integers(1, 9, 20), positions=rng.uniform(0, 6, (20, 3)))
    return {"periodic Cu 2048 atoms": cu, "molecule 20 atoms": mol}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cutoff", type=float, default=5.0, help="Angstrom")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="bench/results/neighbors.json")
    args = parser.parse_args()

    rows = []
    for name, atoms in systems(args.cutoff).items():
        pos, cell, pbc = atoms.positions, atoms.cell[:], atoms.pbc
        calls = {
            "vesin": lambda: NeighborList(cutoff=args.cutoff, full_list=True).compute(
                points=pos, box=cell, periodic=pbc, quantities="ijS"),
            "ase": lambda: neighbor_list("ijS", atoms, args.cutoff),
            "tfatoms.neighbor_pairs (vesin)": lambda: neighbor_pairs(pos, cell, pbc, args.cutoff),
        }
        n_pairs = len(neighbor_pairs(pos, cell, pbc, args.cutoff)[0])
        for lib, fn in calls.items():
            median, best = best_time(fn, args.repeats)
            rows.append(dict(system=name, library=lib, n_atoms=len(atoms), n_pairs=n_pairs,
                             cutoff=args.cutoff, median_s=median, best_s=best))

    print(f"{'system':<24} {'library':<31} {'pairs':>8} {'median ms':>10} {'best ms':>9}")
    for r in rows:
        print(f"{r['system']:<24} {r['library']:<31} {r['n_pairs']:>8} {1e3 * r['median_s']:>10.3f} "
              f"{1e3 * r['best_s']:>9.3f}")
    result = dict(benchmark="neighbor lists", machine=platform.processor() or platform.machine(),
                  cpu_count=os.cpu_count(), repeats=args.repeats, rows=rows)
    from tfatoms._io import atomic_write
    from tfatoms.reproduce.results import hardware

    result["hardware"] = hardware()      # CPU model and vector extensions beside the numbers
    atomic_write(Path(args.out), json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
