"""Filters once per mirror pair couple against every pair: SchNet and DTNN energy inference on real QM9.

The same QM9 batches (random molecules, seed 0, batch 32, all pairs) with and without the batches'
``PAIR_HALF``/``PAIR_INVERSE`` (tfatoms.keys): with them the distance-only terms (SchNet's filter networks,
DTNN's ``W^fd d_hat``) are computed once per couple (i, j) / (j, i) and gathered back. XLA-compiled energy
inference, every batch shape compiled before timing, best of ``--repeats`` passes; the thesis' models
(SchNet F = 64, T = 6, 126 Gaussians to 12.5 A; DTNN 30 features, 60 factors, T = 3). Writes molecules/s,
the ratios and the CPU (with its vector extensions).

    python bench/bench_half_pairs.py [--molecules 1024] [--threads 2] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def qm9_batches(n_molecules: int = 1024, threads: int = 2):
    """``(MoleculeBatches, [tensor batches])`` of ``n_molecules`` random QM9 molecules (seed 0), batch 32, with
    TensorFlow set to ``threads`` intra-op threads (the benchmarks' shared set-up)."""
    import numpy as np
    import tensorflow as tf

    from tfatoms.data.qm9 import load_qm9
    from tfatoms.representations.padded import MoleculeBatches
    from tfatoms.train.trainer import batch_tensors

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    qm9 = load_qm9(progress=False)
    sub = qm9.subset(np.sort(np.random.default_rng(0).permutation(len(qm9))[:n_molecules]))
    data = MoleculeBatches(sub.numbers, sub.positions, sub.offsets, sub.target("U0"), batch_size=32)
    return data, [batch_tensors(b[1]) for b in data.batches()]


def xla_inference_rate(model, batches, n_molecules: int, repeats: int = 3) -> float:
    """Molecules/s of XLA-compiled energy inference of ``model`` over ``batches`` (every shape compiled first,
    best of ``repeats`` passes)."""
    import tensorflow as tf

    step = tf.function(lambda b: model(b), jit_compile=True, reduce_retracing=True)
    for b in batches:
        step(b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in batches:
            step(b).numpy()
        best = min(best, time.perf_counter() - t0)
    return n_molecules / best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecules", type=int, default=1024)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="bench/results/half_pairs.json")
    args = p.parse_args(argv)

    import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)

    from tfatoms import keys
    from tfatoms._io import atomic_write
    from tfatoms.models import DTNN, SchNet
    from tfatoms.reproduce.results import hardware, package_versions

    data, half = qm9_batches(args.molecules, args.threads)
    every = [{k: v for k, v in b.items() if k not in (keys.PAIR_HALF, keys.PAIR_INVERSE)} for b in half]
    models = {"SchNet F=64 T=6": SchNet(n_features=64, n_interactions=6, rbf_cutoff=12.5, rbf_spacing=0.1),
              "DTNN 30/60 T=3": DTNN()}
    result = {"molecules": len(data), "batch_size": 32, "threads": args.threads, "models": {}}
    for name, model in models.items():
        model(half[0])
        rates = {label: xla_inference_rate(model, batches, len(data), args.repeats)
                 for label, batches in (("half_pairs", half), ("every_pair", every))}
        rates["ratio"] = rates["half_pairs"] / rates["every_pair"]
        result["models"][name] = rates
        print(name, json.dumps(rates), flush=True)
    result.update(hardware=hardware(), packages=package_versions())
    atomic_write(Path(args.out), json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
