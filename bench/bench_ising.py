"""Throughput of the EDNN Ising pipeline: Monte Carlo sampling (spin flips/s) and EDNN training (tiles/s).

    python bench/bench_ising.py [--steps 20] [--batches 100 500]

Writes bench/results/ising.json.

* Sampling: checkerboard Metropolis site updates (spin-flip attempts) per second
  on 2,000 8x8 chains and 20 128x128 chains, Wolff cluster flips per second
  and spins flipped per second near T_c (numba, one thread), and the
  end-to-end rate of ``sample_ising`` at the settings of the 8x8 dataset.
* Training: one compiled Adam step of an EDNN (f = 1, c = 1, 2, 3) on a fixed
  batch of 8x8 configurations (64 tiles each), after 3 warm-up steps; FLOPs
  per tile from tfatoms.models.flops (backward counted as 2x forward).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def sampling_rates() -> list[dict]:
    from tfatoms.data.ising import T_CRITICAL, _metropolis_sweeps, _seed, _wolff_flips, sample_ising

    rows = []
    rng = np.random.default_rng(0)
    _seed(0)
    for size, chains, sweeps in ((8, 2000, 20), (128, 20, 20)):
        spins = rng.choice(np.array([-1, 1], dtype=np.int8), size=(chains, size, size))
        beta = np.full(chains, 1.0 / T_CRITICAL)
        _metropolis_sweeps(spins[:1].copy(), beta[:1], 1)  # compile
        t0 = time.perf_counter()
        _metropolis_sweeps(spins, beta, sweeps)
        dt = time.perf_counter() - t0
        rows.append({"kind": "metropolis", "size": size, "chains": chains,
                     "site_updates_per_s": chains * size * size * sweeps / dt})
        flips = 200 if size == 8 else 20
        _wolff_flips(spins[:1].copy(), beta[:1], 1)
        before = spins.copy()
        t0 = time.perf_counter()
        _wolff_flips(spins, beta, flips)
        dt = time.perf_counter() - t0
        # each cluster flip flips the whole cluster; count spins flipped one flip at a time on a sample of chains
        probe = before[:20].copy()
        flipped = 0
        for _ in range(flips):
            prev = probe.copy()
            _wolff_flips(probe, beta[:20], 1)
            flipped += int((probe != prev).sum())
        mean_cluster = flipped / (20 * flips)
        rows.append({"kind": "wolff at T_c", "size": size, "chains": chains,
                     "cluster_flips_per_s": chains * flips / dt, "mean_cluster_size": mean_cluster,
                     "spins_flipped_per_s": chains * flips * mean_cluster / dt})
    sample_ising(20, 8, seed=0, progress=False)  # compile everything once
    t0 = time.perf_counter()
    sample_ising(20_000, 8, seed=1, progress=False)
    rows.append({"kind": "sample_ising end to end (8x8 dataset settings)", "size": 8,
                 "configurations_per_s": 20_000 / (time.perf_counter() - t0)})
    return rows


def training_rates(batches, steps) -> list[dict]:
    import keras
    import tensorflow as tf

    from tfatoms.data.ising import sample_ising
    from tfatoms.models import EDNN, ising_tile_network
    from tfatoms.models.flops import count_flops

    data = sample_ising(max(batches), 8, seed=0, progress=False)
    x_all = data["spins"][..., None].astype("float32")
    y_all = data["energy"].astype("float32")
    rows = []
    for c in (1, 2, 3):
        for batch in batches:
            keras.utils.set_random_seed(0)
            model = EDNN(ising_tile_network(1, c), 1, c)
            model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
            x, y = tf.constant(x_all[:batch]), tf.constant(y_all[:batch])
            for _ in range(3):
                model.train_on_batch(x, y)
            t0 = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            dt = (time.perf_counter() - t0) / steps
            flops = count_flops(model.tile_network)
            tiles = batch * 64 / dt
            row = {"context": c, "batch": batch, "params": int(model.tile_network.count_params()),
                   "forward_kflop_per_tile": flops / 1e3, "step_s": dt, "tiles_per_s_training": tiles,
                   "training_gflop_per_s": 3 * flops * tiles / 1e9}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batches", type=int, nargs="*", default=[100, 500, 2000])
    ap.add_argument("--out", default="bench/results/ising.json")
    args = ap.parse_args(argv)
    import tensorflow as tf

    results = {"cpu_threads": tf.config.threading.get_intra_op_parallelism_threads(), "sampling": sampling_rates()}
    for row in results["sampling"]:
        print(json.dumps(row), flush=True)
    results["training"] = training_rates(args.batches, args.steps)
    from tfatoms._io import atomic_write
    from tfatoms.reproduce.results import hardware

    results["hardware"] = hardware()      # CPU model and vector extensions beside the numbers
    atomic_write(Path(args.out), json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
