"""Throughput of the CNNAS dimer pipeline: image generation and Network 1 training steps (images/s).

    python bench/bench_cnnas.py [--grids2d 64 128 256] [--grids3d 32 64] [--steps 20]

Writes bench/results/cnnas.json. Training throughput is one compiled Adam step
on a fixed batch (graph mode), after 3 warm-up steps; FLOPs from tfatoms.models.flops.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tfatoms._io import atomic_write
from tfatoms.reproduce.results import hardware


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grids2d", type=int, nargs="*", default=[64, 128, 256])
    ap.add_argument("--grids3d", type=int, nargs="*", default=[32, 64])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out", default="bench/results/cnnas.json")
    args = ap.parse_args(argv)

    import tensorflow as tf

    from tfatoms.data.dimers import Selection, generate_dimers
    from tfatoms.models.cnnas import network_1
    from tfatoms.models.flops import count_flops
    from tfatoms.train.trainer import BatchTrainer, step_tensors

    results = {"batch": args.batch, "cpu_threads": tf.config.threading.get_intra_op_parallelism_threads(), "rows": []}
    sel = Selection("distance", [(1.0, 3.0)])
    for dim, grids in ((2, args.grids2d), (3, args.grids3d)):
        data = generate_dimers(4096, dim, sel, seed=0)
        for grid in grids:
            src = data.images(grid, "distance", batch_size=args.batch)
            next(src.batches())                                  # numba compile
            t0, n = time.perf_counter(), 0
            for sel_idx, *_ in src.batches():
                n += len(sel_idx)
            gen = n / (time.perf_counter() - t0)
            model = network_1(grid, dim, output_offset=2.0)
            flops = count_flops(model)
            trainer = BatchTrainer(model, learning_rate=1e-4)
            _, batch, targets, weights = next(src.batches(shuffle_seed=0))
            step = step_tensors(batch, targets, weights)
            for _ in range(3):
                trainer._train_step(*step)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                loss = trainer._train_step(*step)
            float(loss)
            train = args.steps * args.batch / (time.perf_counter() - t0)
            row = {"dim": dim, "grid": grid, "params": int(model.count_params()), "forward_mflop": flops / 1e6,
                   "images_per_s_generation": gen, "images_per_s_training": train,
                   "training_gflop_per_s": 3 * flops * train / 1e9}
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    results["hardware"] = hardware()      # CPU model and vector extensions beside the numbers
    atomic_write(Path(args.out), json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
