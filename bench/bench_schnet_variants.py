"""Where SchNet's energy inference goes: the thesis model against variants that drop one piece of work.

XLA energy inference on the same QM9 batches (1,024 random molecules, seed 0, batch 32) of SchNet F = 64, T = 6
with 126 Gaussians (the thesis), 8 Gaussians (a thinner first filter layer), one filter layer, and a linear
second filter layer (no shifted softplus there). Best of 3 passes per variant, molecules/s.

    python bench/bench_schnet_variants.py [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

VARIANTS = {"126 Gaussians (thesis)": dict(rbf_spacing=0.1), "8 Gaussians": dict(rbf_spacing=12.5 / 7),
            "one filter layer": dict(rbf_spacing=0.1, filter_layers=1),
            "linear second filter layer": dict(rbf_spacing=0.1, second_filter_activation="linear")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="bench/results/schnet_variants.json")
    args = p.parse_args(argv)
    import numpy as np
    import tensorflow as tf

    from tfatoms._io import atomic_write
    from tfatoms.data.qm9 import load_qm9
    from tfatoms.models import SchNet
    from tfatoms.representations.padded import MoleculeBatches
    from tfatoms.reproduce.results import hardware
    from tfatoms.train.trainer import batch_tensors

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    qm9 = load_qm9(progress=False)
    sub = qm9.subset(np.sort(np.random.default_rng(0).permutation(len(qm9))[:1024]))
    data = MoleculeBatches(sub.numbers, sub.positions, sub.offsets, sub.target("U0"), batch_size=32)
    batches = [batch_tensors(b[1]) for b in data.batches()]
    result = {"molecules_per_s": {}}
    for label, kw in VARIANTS.items():
        model = SchNet(n_features=64, n_interactions=6, rbf_cutoff=12.5, **kw)
        model(batches[0])
        step = tf.function(lambda b: model(b), jit_compile=True, reduce_retracing=True)
        for b in batches:
            step(b)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for b in batches:
                step(b).numpy()
            best = min(best, time.perf_counter() - t0)
        result["molecules_per_s"][label] = len(sub) / best
        print(f"{label}: {len(sub) / best:.0f} molecules/s", flush=True)
    result["hardware"] = hardware()
    atomic_write(Path(args.out), json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
