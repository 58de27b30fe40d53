"""Throughput of TileExtract + the EDNN tile CNN (EDNN sec. 2.1) against a dense-matmul ceiling.

Measures in one run, on the same threads:
  1. the ceiling: a 2048^3 float32 matmul in graph mode (GFLOP/s);
  2. the tile CNN alone on 128x128 tiles (f=64, c=32), graph mode and XLA (jit_compile);
  3. the whole EDNN: images of 512x512 pixels -> TileExtract -> tile CNN -> TileSum;
  4. TileExtract alone (GB/s of tiles written).
and prints tiles/s, GFLOP/s and the fraction of the ceiling.

    python bench/bench_tile_cnn.py [--batch 256] [--repeats 5] [--out bench/results/tile_cnn.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import tensorflow as tf  # noqa: E402

from tfatoms.layers import TileExtract  # noqa: E402
from tfatoms.models import EDNN, dft_tile_cnn  # noqa: E402
from tfatoms.models.flops import count_flops  # noqa: E402
from tfatoms.reproduce.results import atomic_write, hardware, package_versions  # noqa: E402


def best_time(fn, repeats):
    fn()  # warm-up / trace
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=256, help="tiles per network call")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--focus", type=int, default=64)
    p.add_argument("--context", type=int, default=32)
    p.add_argument("--image", type=int, default=512, help="image side for the end-to-end EDNN case")
    p.add_argument("--out", default="bench/results/tile_cnn.json")
    args = p.parse_args()
    tile = args.focus + 2 * args.context
    results = {"threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                           "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                           "cpu_count": os.cpu_count()}}

    a = tf.random.normal((2048, 2048))
    matmul = tf.function(lambda: tf.linalg.matmul(a, a))
    t = best_time(lambda: matmul().numpy(), args.repeats)
    ceiling = 2 * 2048**3 / t / 1e9
    results["matmul_2048_gflops"] = ceiling

    net = dft_tile_cnn(tile)
    flops = count_flops(net)
    results["tile_cnn"] = {"tile": tile, "params": int(net.count_params()), "mflop_per_tile": flops / 1e6}
    tiles = tf.random.uniform((args.batch, tile, tile, 1))
    for label, jit in (("graph", False), ("xla", True)):
        fn = tf.function(lambda x: net(x, training=False), jit_compile=jit)
        t = best_time(lambda: fn(tiles).numpy(), args.repeats)
        rate = args.batch / t
        results["tile_cnn"][label] = {"tiles_per_s": rate, "gflops": rate * flops / 1e9,
                                      "fraction_of_matmul": rate * flops / 1e9 / ceiling}

    n_img = max(1, args.batch // (args.image // args.focus) ** 2)
    images = tf.random.uniform((n_img, args.image, args.image, 1))
    ednn = EDNN(net, args.focus, args.context)
    fn = tf.function(lambda x: ednn(x, training=False))
    t_ednn = best_time(lambda: fn(images).numpy(), args.repeats)
    n_tiles = n_img * (args.image // args.focus) ** 2
    rate = n_tiles / t_ednn
    results["ednn_end_to_end"] = {"images": n_img, "image": args.image, "tiles": n_tiles,
                                  "tiles_per_s": rate, "gflops": rate * flops / 1e9,
                                  "fraction_of_matmul": rate * flops / 1e9 / ceiling}

    extract = TileExtract(args.focus, args.context)
    fn = tf.function(lambda x: extract(x)[0])
    t = best_time(lambda: fn(images).numpy(), args.repeats)
    results["tile_extract"] = {"tiles_per_s": n_tiles / t, "gb_per_s": n_tiles * tile * tile * 4 / t / 1e9,
                               "share_of_ednn_time": t / t_ednn}
    results["hardware"] = hardware()
    results["packages"] = package_versions()

    print(f"dense matmul 2048^3 ceiling:   {ceiling:8.1f} GFLOP/s")
    print(f"tile CNN {tile}x{tile}: {results['tile_cnn']['params'] / 1e6:.2f} M params, "
          f"{flops / 1e6:.1f} MFLOP/tile")
    for label in ("graph", "xla"):
        r = results["tile_cnn"][label]
        print(f"  {label:5s}: {r['tiles_per_s']:8.1f} tiles/s {r['gflops']:7.1f} GFLOP/s "
              f"({100 * r['fraction_of_matmul']:.0f}% of matmul)")
    r = results["ednn_end_to_end"]
    print(f"EDNN {n_img} x {args.image}^2 images ({n_tiles} tiles): {r['tiles_per_s']:8.1f} tiles/s "
          f"{r['gflops']:7.1f} GFLOP/s ({100 * r['fraction_of_matmul']:.0f}% of matmul)")
    r = results["tile_extract"]
    print(f"TileExtract alone: {r['tiles_per_s']:.0f} tiles/s, {r['gb_per_s']:.2f} GB/s, "
          f"{100 * r['share_of_ednn_time']:.1f}% of the EDNN time")
    atomic_write(Path(args.out), json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
