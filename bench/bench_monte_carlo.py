"""Time per Monte Carlo energy evaluation with EDNN local tile updates (EDNN Fig. 13; issue target <= 5 ms).

The paper's setting: the 60-atom pristine graphene cell (12.53 x 13.02 A, :mod:`tfatoms.data.hexagonal`) on
256 x 256 pixels, EDNN f = 64, c = 32 with the DFT tile CNN (200 MFLOP per 128 x 128 tile), 16 tiles. In one run:

  1. a full evaluation (all 16 tiles, one network call);
  2. Monte Carlo moves through :class:`tfatoms.inference.monte_carlo.LocalTileEnergy` (re-rasterise the two
     changed pixel blocks, evaluate only the touched tiles): seconds per move, tiles per move;
  3. the network alone on the same number of tiles per call, so the share of the network in a move is known.

    python bench/bench_monte_carlo.py [--moves 200] [--precision mixed_bfloat16] [--out bench/results/monte_carlo.json]

The weights are untrained (timing only): the time does not depend on them.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)
import numpy as np
import tensorflow as tf

from tfatoms.data.hexagonal import PAPER_CELL, hexagonal_sheet
from tfatoms.inference.monte_carlo import LocalTileEnergy, metropolis
from tfatoms.models import EDNN, dft_tile_cnn
from tfatoms.reproduce.results import atomic_write, hardware, package_versions


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--moves", type=int, default=200)
    p.add_argument("--pixels", type=int, default=256)
    p.add_argument("--out", default="bench/results/monte_carlo.json")
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32",
                   help="tile network precision (mixed_bfloat16: bfloat16 convolutions, float32 head)")
    args = p.parse_args()
    if args.precision != "float32":
        import keras

        keras.mixed_precision.set_global_policy(args.precision)

    sheet = hexagonal_sheet("graphene")
    ednn = EDNN(dft_tile_cnn(128), focus=64, context=32)
    t0 = time.perf_counter()
    energy = LocalTileEnergy(ednn, sheet.positions, sheet.numbers, PAPER_CELL[:2], (args.pixels,) * 2)
    setup = time.perf_counter() - t0
    n_tiles = energy.tile_energy.size

    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        energy.full_energy()
        times.append(time.perf_counter() - t0)
    full = min(times)

    metropolis(energy, 1000.0, 10, max_step=0.05, seed=1)          # warm-up: traces the tile counts used
    before = energy.n_tile_evaluations
    run = metropolis(energy, 1000.0, args.moves, max_step=0.05, seed=2)
    tiles_per_move = (energy.n_tile_evaluations - before) / args.moves

    k = max(1, round(tiles_per_move))
    batch = tf.constant(np.random.default_rng(0).random((k, 128, 128, 1)).astype(np.float32))
    net_times = []
    for _ in range(20):
        t0 = time.perf_counter()
        energy._net(batch).numpy()
        net_times.append(time.perf_counter() - t0)
    network = float(np.median(net_times))

    result = {
        "setting": f"60-atom graphene, {args.pixels}^2 pixels, f=64 c=32 DFT tile CNN, {n_tiles} tiles, {args.precision}",
        "precision": args.precision,
        "setup_s": setup, "full_evaluation_s": full, "seconds_per_move": run["seconds_per_move"],
        "tiles_per_move": tiles_per_move, "network_only_s_for_that_many_tiles": network,
        "acceptance_untrained": run["acceptance"], "moves": args.moves,
        "speedup_vs_full": full / run["seconds_per_move"],
        "hardware": hardware(), "versions": package_versions(),
    }
    print(json.dumps({k: v for k, v in result.items() if k not in ("hardware", "versions")}, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
