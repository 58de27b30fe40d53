"""Where SchNet's energy inference goes: the thesis model against variants that drop one piece of work.

XLA energy inference on the same QM9 batches (1,024 random molecules, seed 0, batch 32) of SchNet F = 64, T = 6
with 126 Gaussians (the thesis), 8 Gaussians (a thinner first filter layer), one filter layer, and a linear
second filter layer (no shifted softplus there). Best of 3 passes per variant, molecules/s.

    python bench/bench_schnet_variants.py [--threads 2]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

VARIANTS = {"126 Gaussians (thesis)": dict(rbf_spacing=0.1), "8 Gaussians": dict(rbf_spacing=12.5 / 7),
            "one filter layer": dict(rbf_spacing=0.1, filter_layers=1),
            "linear second filter layer": dict(rbf_spacing=0.1, second_filter_activation="linear")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="bench/results/schnet_variants.json")
    args = p.parse_args(argv)
    from bench_half_pairs import qm9_batches, xla_inference_rate

    from tfatoms._io import atomic_write
    from tfatoms.models import SchNet
    from tfatoms.reproduce.results import hardware

    data, batches = qm9_batches(1024, args.threads)
    result = {"molecules_per_s": {}}
    for label, kw in VARIANTS.items():
        model = SchNet(n_features=64, n_interactions=6, rbf_cutoff=12.5, **kw)
        model(batches[0])
        result["molecules_per_s"][label] = rate = xla_inference_rate(model, batches, len(data))
        print(f"{label}: {rate:.0f} molecules/s", flush=True)
    result["hardware"] = hardware()
    atomic_write(Path(args.out), json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
