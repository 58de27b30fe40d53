"""Throughput of Gaussian images (CNNAS eq. 1) for graphene-like 2-D sheets.

N atoms at random positions with the areal density of graphene (0.38 atoms/A^2),
Z = 6, rasterised with ``gaussian_image`` at 0.09 A per pixel, gamma = 0.2 A,
periodic. Each size is timed end to end (image allocation included) after a
warm-up call that compiles (or loads) the numba kernels. A naive NumPy baseline
(one Python iteration per atom, stencil added with ``np.add.at``) runs on a
subset in the same process to give a speed ratio and a correctness check.

    NUMBA_NUM_THREADS=2 .venv/bin/python bench/bench_gaussian_image.py
"""
import argparse
import gc
import json
import os
import platform
import resource
import time
from pathlib import Path

import numba
import numpy as np

from tfatoms._io import atomic_write
from tfatoms.reproduce.results import hardware
from tfatoms.representations.gaussian_image import gaussian_image, rasterize_window, stencil_radius

DENSITY = 0.38    # atoms per A^2 (graphene: 2 atoms per 5.24 A^2)


def sheet(n_atoms, spacing, seed=0):
    """Random graphene-density sheet: positions (n, 2), Z, square cell length and grid size."""
    n_pix = int(round(np.sqrt(n_atoms / DENSITY) / spacing))
    length = n_pix * spacing
    rng = np.random.default_rng(seed)
    return rng.uniform(0, length, (n_atoms, 2)), np.full(n_atoms, 6), length, n_pix


def naive_numpy(pos, numbers, length, n_pix, gamma, tol=1e-8):
    """Per-atom NumPy reference: 1-D factors on the stencil, outer product added with np.add.at."""
    h = length / n_pix
    radius = stencil_radius(gamma, tol)
    image = np.zeros((n_pix, n_pix))
    for r, z in zip(pos, numbers):
        idx, fac = [], []
        for a in range(2):
            k = np.arange(np.ceil((r[a] - radius) / h), np.floor((r[a] + radius) / h) + 1)
            idx.append(k.astype(np.int64) % n_pix)
            fac.append(np.exp(-(k * h - r[a]) ** 2 / (2 * gamma ** 2)))
        np.add.at(image, np.ix_(*idx), z * np.outer(*fac))
    return image


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6, 4e6], help="numbers of atoms")
    parser.add_argument("--spacing", type=float, default=0.09, help="A per pixel")
    parser.add_argument("--gamma", type=float, default=0.2, help="Gaussian width, A")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-atoms", type=int, default=5000, help="atoms for the naive NumPy baseline")
    parser.add_argument("--out", default="bench/results/gaussian_image.json")
    args = parser.parse_args()

    pos, z, length, n_pix = sheet(2000, args.spacing)
    t = time.perf_counter()
    gaussian_image(pos, z, [length, length], (n_pix, n_pix), gamma=args.gamma)
    warmup = time.perf_counter() - t

    rows = []
    for n_atoms in [int(n) for n in args.sizes]:
        pos, z, length, n_pix = sheet(n_atoms, args.spacing)
        times, user, system = [], [], []
        for _ in range(args.repeats):
            gc.collect()
            r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            image = gaussian_image(pos, z, [length, length], (n_pix, n_pix), gamma=args.gamma)
            times.append(time.perf_counter() - t)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            user.append(r1.ru_utime - r0.ru_utime)          # all threads
            system.append(r1.ru_stime - r0.ru_stime)        # kernel: page faults zeroing the new image
            del image                      # free before the next allocation: reuse the same pages
        # the streaming case: one buffer, already faulted in, overwritten window after window
        buf = np.zeros((n_pix, n_pix), np.float32)
        h = length / n_pix
        reused = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            rasterize_window(pos, z, [h, h], (0, 0), (n_pix, n_pix), gamma=args.gamma, period=(n_pix, n_pix),
                             out=buf)
            reused.append(time.perf_counter() - t)
        del buf
        rows.append(dict(reused_buffer_median_s=float(np.median(reused)),
                         atoms_per_s_reused_buffer_median=n_atoms / float(np.median(reused)),n_atoms=n_atoms, grid=[n_pix, n_pix], megapixels=n_pix ** 2 / 1e6,
                         seconds=times, user_cpu_seconds=user, system_cpu_seconds=system,
                         user_s_median=float(np.median(user)), system_s_median=float(np.median(system)),
                         median_s=float(np.median(times)), best_s=float(np.min(times)),
                         atoms_per_s_median=n_atoms / float(np.median(times)),
                         atoms_per_s_best=n_atoms / float(np.min(times))))

    # naive NumPy baseline on a small sheet, and the same sheet with tfatoms for the ratio
    pos, z, length, n_pix = sheet(args.baseline_atoms, args.spacing, seed=1)
    t = time.perf_counter()
    reference = naive_numpy(pos, z, length, n_pix, args.gamma)
    naive_s = time.perf_counter() - t
    fast_times = []
    for _ in range(max(args.repeats, 5)):
        t = time.perf_counter()
        fast = gaussian_image(pos, z, [length, length], (n_pix, n_pix), gamma=args.gamma)
        fast_times.append(time.perf_counter() - t)
    fast_s = float(np.median(fast_times))
    baseline = dict(n_atoms=args.baseline_atoms, naive_numpy_s=naive_s,
                    naive_atoms_per_s=args.baseline_atoms / naive_s, tfatoms_s=fast_s,
                    tfatoms_atoms_per_s=args.baseline_atoms / fast_s, speedup=naive_s / fast_s,
                    max_rel_diff=float(np.abs(fast - reference).max() / reference.max()))

    print(f"numba threads: {numba.get_num_threads()} ({numba.threading_layer()} layer), "
          f"os.cpu_count: {os.cpu_count()}, warm-up (compile or cache load): {warmup:.2f} s")
    print(f"spacing {args.spacing} A/pixel, gamma {args.gamma} A, density {DENSITY} atoms/A^2, float32, periodic")
    print(f"{'atoms':>10} {'grid':>13} {'Mpixel':>8} {'median s':>9} {'best s':>8} {'user s':>7} "
          f"{'sys s':>6} {'Matoms/s (median)':>18} {'(best)':>7} {'Matoms/user-s':>14} {'reused buffer':>14}")
    for r in rows:
        print(f"{r['n_atoms']:>10} {r['grid'][0]:>6}x{r['grid'][1]:<6} {r['megapixels']:>8.1f} "
              f"{r['median_s']:>9.3f} {r['best_s']:>8.3f} {r['user_s_median']:>7.3f} {r['system_s_median']:>6.3f} "
              f"{r['atoms_per_s_median'] / 1e6:>18.2f} {r['atoms_per_s_best'] / 1e6:>7.2f} "
              f"{r['n_atoms'] / r['user_s_median'] / 1e6:>14.2f} "
              f"{r['atoms_per_s_reused_buffer_median'] / 1e6:>14.2f}")
    print("(reused buffer: Matoms/s of rasterize_window(out=...) into a buffer already in memory, median)")
    print("(wall time per call, image allocation included; user s: CPU time of all threads; sys s: kernel "
          "time, mostly page faults zeroing the fresh image; wall > (user + sys) / threads: cores shared)")
    b = baseline
    print(f"naive NumPy baseline, {b['n_atoms']} atoms: {b['naive_numpy_s']:.2f} s "
          f"({b['naive_atoms_per_s']:.0f} atoms/s); tfatoms {b['tfatoms_s'] * 1e3:.1f} ms "
          f"({b['tfatoms_atoms_per_s']:.3g} atoms/s): {b['speedup']:.0f}x faster, "
          f"max |diff| / max = {b['max_rel_diff']:.1e}")

    result = dict(benchmark="gaussian_image 2-D graphene-like sheet", spacing_A=args.spacing, gamma_A=args.gamma,
                  density_atoms_per_A2=DENSITY, dtype="float32", numba_threads=numba.get_num_threads(),
                  threading_layer=numba.threading_layer(), cpu_count=os.cpu_count(),
                  machine=platform.processor() or platform.machine(), warmup_s=warmup, rows=rows,
                  baseline=baseline)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result["hardware"] = hardware()      # CPU model and vector extensions beside the numbers
    atomic_write(Path(args.out), json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
