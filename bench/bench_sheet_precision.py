"""bfloat16 against float32 for the shipped porous graphene EDNN: energies and speed in one run.

The same REBO 1000 K MD snapshots are evaluated by two copies of the shipped ``ednn_porous_graphene``
through ``SheetPredictor``: one under the float32 policy, one under ``mixed_bfloat16`` (bfloat16
convolutions, float32 head and tile sums, float64 sheet sums). Sheets:

* held-out: ``--held-out`` starting geometries of the dataset's generator numbered from 1,000,000 (the
  dataset uses 0..n_geometries-1, so none was trained on), 2 x 2 blocks (the training cell, ~400 atoms);
* transfer: one sheet of k x k training areas for each ``--transfer k`` (default 2 4 8 16: up to 105,000
  atoms), seeds of their own.

Reports per sheet the energy change per atom (bfloat16 - float32) and both errors against REBO, and the
network time and atoms/s of both on the largest sheet, with the CPU and its vector extensions. The issue's
target: |change| <= 2 meV/atom (a tenth of the model's 18.7 meV/atom test error).

    python bench/bench_sheet_precision.py [--held-out 24] [--transfer 2 4 8 16] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

TARGET_MEV_PER_ATOM = 2.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--held-out", type=int, default=24, help="held-out training-size sheets (default 24)")
    p.add_argument("--transfer", type=int, nargs="*", default=[2, 4, 8, 16], help="k of the k x k transfer sheets")
    p.add_argument("--equilibrate", type=int, default=600, help="REBO MD steps before the snapshot (default 600)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default="ednn_porous_graphene",
                   help="pretrained EDNN, name or path (the committed results: ednn_porous_graphene_holes, the "
                        "default model of that day)")
    p.add_argument("--out", default="bench/results/sheet_precision.json")
    return p.parse_args(argv)


def snapshots(n_held_out: int, transfer, equilibrate: int):
    """``[(kind, PeriodicSheet, REBO energy)]`` of the held-out and transfer sheets (REBO MD, 1000 K)."""
    from tfatoms.data.lammps_rebo import rebo_energy
    from tfatoms.data.porous_graphene import md_snapshot, starting_geometry
    from tfatoms.data.sheets import VACUUM, PeriodicSheet, PorousSheet

    sheets = [("held-out", starting_geometry(1_000_000 + g)) for g in range(n_held_out)]
    sheets += [(f"transfer {k}x{k}", PorousSheet((2 * k, 2 * k), seed=950_000 + k)) for k in transfer]
    out = []
    for k, (kind, sheet) in enumerate(sheets):
        snap, _ = md_snapshot(sheet, equilibrate, seed=k + 1)
        ref = rebo_energy(snap.positions, [*sheet.size, VACUUM]).energy
        out.append((kind, PeriodicSheet(snap.positions, sheet.size), ref))
    return out


def predictors(spec: str = "ednn_porous_graphene"):
    """``{policy: SheetPredictor}`` of the pretrained model ``spec`` under float32 and mixed_bfloat16."""
    import keras

    from tfatoms.inference.sheet import SheetPredictor
    from tfatoms.pretrained import load_ednn, model_location

    out = {}
    for policy in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(policy)
        try:
            model, meta = load_ednn(*model_location(spec), check=False)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        out[policy] = SheetPredictor.from_ednn(model, meta["spacing"], meta["gamma"])
    return out


def compare(sheets, preds) -> dict:
    rows = []
    for kind, sheet, ref in sheets:
        e = {p: preds[p].energy(sheet) for p in preds}
        n = e["float32"].n_atoms
        rows.append(dict(kind=kind, n_atoms=n, rebo_eV=ref,
                         **{f"{p}_eV": e[p].energy for p in e},
                         **{f"{p}_network_s": e[p].seconds["network"] for p in e},
                         change_meV_per_atom=(e["mixed_bfloat16"].energy - e["float32"].energy) / n * 1e3,
                         **{f"{p}_error_meV_per_atom": (e[p].energy - ref) / n * 1e3 for p in e}))
    change = np.abs([r["change_meV_per_atom"] for r in rows])
    held = [r for r in rows if r["kind"] == "held-out"]
    summary = {"max_abs_change_meV_per_atom": float(change.max()), "mean_abs_change_meV_per_atom": float(change.mean()),
               "target_meV_per_atom": TARGET_MEV_PER_ATOM, "met": bool(change.max() <= TARGET_MEV_PER_ATOM)}
    for p in preds:
        summary[f"held_out_mae_meV_per_atom.{p}"] = float(np.mean([abs(r[f"{p}_error_meV_per_atom"]) for r in held]))
    return {"rows": rows, "summary": summary}


def speed(preds, sheet, repeats: int = 2) -> dict:
    """Network seconds and atoms/s of each policy on ``sheet``, the better of ``repeats`` alternating runs."""
    best = {p: float("inf") for p in preds}
    total = {p: float("inf") for p in preds}
    for _ in range(repeats):
        for p, pred in preds.items():
            t0 = time.perf_counter()
            e = pred.energy(sheet)
            total[p] = min(total[p], time.perf_counter() - t0)
            best[p] = min(best[p], e.seconds["network"])
    n = e.n_atoms
    return {"n_atoms": n, **{f"network_s.{p}": best[p] for p in preds}, **{f"total_s.{p}": total[p] for p in preds},
            **{f"atoms_per_s.{p}": n / total[p] for p in preds},
            "network_time_ratio_bf16_over_f32": best["mixed_bfloat16"] / best["float32"]}


def main(argv=None):
    args = parse_args(argv)
    import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)
    import tensorflow as tf

    from tfatoms._io import atomic_write
    from tfatoms.reproduce.results import hardware, package_versions

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    t0 = time.perf_counter()
    sheets = snapshots(args.held_out, args.transfer, args.equilibrate)
    print(f"{len(sheets)} REBO snapshots in {time.perf_counter() - t0:.0f} s", flush=True)
    preds = predictors(args.model)
    result = compare(sheets, preds)
    for r in result["rows"]:
        print(f"{r['kind']:>16} {r['n_atoms']:7d} atoms: bf16 - f32 {r['change_meV_per_atom']:+.3f} meV/atom; error vs "
              f"REBO f32 {r['float32_error_meV_per_atom']:+.2f}, bf16 {r['mixed_bfloat16_error_meV_per_atom']:+.2f}")
    result["speed"] = speed(preds, max(sheets, key=lambda s: len(s[1].positions))[1])
    result.update(command="python bench/bench_sheet_precision.py " + " ".join(
                      f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                      for k, v in vars(args).items() if k != "out"),
                  threads=args.threads, hardware=hardware(), packages=package_versions())
    print(json.dumps({"summary": result["summary"], "speed": result["speed"]}, indent=1))
    atomic_write(Path(args.out), json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
