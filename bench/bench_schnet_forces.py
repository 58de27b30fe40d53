"""SchNet energy+force training throughput on rMD17 ethanol, tfatoms (TensorFlow) side by side with schnetpack.

The rMD17 setting of thesis ch. 5 (``reproductions/schnet_md17.py``): SchNet F = 64, T = 3, Gaussian RBF
0.1 A / gamma 10 up to ``ceil(d_max + 1)`` = 6 A (61 centres), all 72 ordered pairs of ethanol, batch 32,
the eq. 5.7 loss ``rho (E - E_hat)^2 + (1/N) sum_i |F_i + dE_hat/dr_i|^2`` with rho = 0.01, forces by
autodiff with the second-order tape (tfatoms) / ``create_graph=True`` (schnetpack), Adam 1e-3, 2 threads.
Both sides get the same molecules in the same batches (consecutive runs of 32 of the file, collated
before timing), the same centred positions, forces and energies (minus their mean).

Measured, in molecules/s:
  * training steps (forward, forces, loss, backward through the force graph, Adam);
  * inference of energy and forces (no second-order graph);
for these configurations:
  * tfatoms ``matched``: SchNet options set to schnetpack 2's architecture (cosine cutoff at the RBF
    range, linear second filter layer, 100 embedding rows) and tight padding buckets (296 atoms, 2,304
    pairs per batch of 288 atoms / 2,304 pairs), in graph mode and with XLA (``jit_compile=True``);
  * tfatoms ``reproduction``: the model and batches exactly as ``reproductions/schnet_md17.py`` builds
    them (original SchNet: shifted softplus on both filter layers, no cutoff; default buckets 64 atoms /
    1,024 pairs: 320 atoms, 3,072 pairs), graph mode and XLA;
  * tfatoms ``thesis`` (only with ``--configs thesis``): the reproduction's model on the tight buckets;
  * schnetpack 2 (``--schnetpack-python``, its own venv, ``bench/README_schnetpack.md``): the same
    architecture as ``matched`` with the Atomwise head on shifted softplus, no padding.

The phases are interleaved within seconds: schnetpack runs as a worker process
(``bench_schnet.SchnetpackWorker``), and each of ``--rounds`` rounds times, per phase, schnetpack, then
each tfatoms configuration followed by schnetpack again; every tfatoms figure is divided by the mean of
the two schnetpack figures around it, and the medians over the rounds are reported, so load from other
jobs on a shared machine falls on both sides alike.

Before timing, the matched tfatoms model's initial weights are loaded into schnetpack's model and both
compute energy, forces, the loss and the loss gradient of every parameter on the first batch: the
largest differences are recorded (``check``), and a mismatch beyond float32 round-off stops the run.
schnetpack then trains on from these weights.

    python bench/bench_schnet_forces.py --data ../shared/data/rmd17_ethanol/train.xyz \\
        [--schnetpack-python /work/spvenv/bin/python] [--rounds 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BATCH, F, T, RHO, LR = 32, 64, 3, 0.01, 1e-3
RBF_SPACING, GAMMA = 0.1, 10.0
#: (atom_bucket, pair_bucket): tight for ethanol batches of 32 (296 atoms, 2,304 pairs), and MoleculeBatches'
#: defaults, which the rMD17 reproduction uses (320 atoms, 3,072 pairs)
CONFIGS = {
    "matched": dict(model=dict(second_filter_activation="linear", max_z=99), cutoff_at_rbf=True, buckets=(8, 256)),
    "reproduction": dict(model=dict(), cutoff_at_rbf=False, buckets=(64, 1024)),
    # the reproduction's model on the tight buckets: splits its gap to "matched" into model and padding
    "thesis": dict(model=dict(), cutoff_at_rbf=False, buckets=(8, 256)),
}
#: check tolerances (float32 on both sides): energies and forces relative to their scale, gradients relative
#: to the largest gradient entry of each parameter
CHECK_RTOL = 1e-3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="rMD17 ethanol extended XYZ (energy in eV, forces in eV/A), e.g. "
                                   "../shared/data/rmd17_ethanol/train.xyz")
    p.add_argument("--molecules", type=int, default=992, help="the first N configurations (whole batches only)")
    p.add_argument("--train-batches", type=int, default=30, help="timed training steps per phase")
    p.add_argument("--infer-batches", type=int, default=30, help="timed inference steps per phase")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--configs", nargs="+", default=["matched", "reproduction"], choices=list(CONFIGS))
    p.add_argument("--schnetpack-python", help="python of the schnetpack venv (omit to skip that side)")
    p.add_argument("--omp-wait-policy", choices=["PASSIVE", "ACTIVE", "default"], default="PASSIVE",
                   help="OMP_WAIT_POLICY of the schnetpack process (default PASSIVE: with OpenMP's default "
                        "spin-waiting, 2 torch threads on 2 cores shared with other jobs run up to 30x slower)")
    p.add_argument("--out", default="bench/results/schnet_md17_forces.json")
    args = p.parse_args(argv)
    if not args.data:
        p.error("--data is required: the rMD17 ethanol extended XYZ file (e.g. ../shared/data/rmd17_ethanol/train.xyz)")
    if not Path(args.data).is_file():
        p.error(f"--data {args.data}: no such file")
    if args.schnetpack_python and not Path(args.schnetpack_python).is_file():
        p.error(f"--schnetpack-python {args.schnetpack_python}: no such file (bench/README_schnetpack.md "
                f"says how to make that venv)")
    if args.molecules < BATCH or args.rounds < 1 or args.train_batches < 1 or args.infer_batches < 1:
        p.error(f"--molecules must be >= {BATCH}; --rounds, --train-batches, --infer-batches >= 1")
    return args


if __name__ == "__main__":
    ARGS = parse_args()     # --help and a missing --data answer before TensorFlow loads

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_schnet import SchnetpackWorker, timed  # noqa: E402

from tfatoms import keys  # noqa: E402
from tfatoms.data.atoms import AtomsData  # noqa: E402
from tfatoms.models import SchNet  # noqa: E402
from tfatoms.representations.padded import MoleculeBatches  # noqa: E402
from tfatoms.reproduce.results import atomic_write, hardware, package_versions  # noqa: E402
from tfatoms.train.losses import EnergyForceLoss  # noqa: E402
from tfatoms.train.trainer import BatchTrainer, step_tensors  # noqa: E402

#: tfatoms SchNet layer -> schnetpack 2 module (state-dict prefix); Dense kernels are (in, out), torch's (out, in)
_INTERACTION = {"in2f": "in2f", "cfconv/filter_0": "filter_network.0", "cfconv/filter_1": "filter_network.1",
                "f2out": "f2out.0", "dense": "f2out.1"}
_HEAD = {"output_hidden": "output_modules.0.outnet.0", "output": "output_modules.0.outnet.1"}


def schnetpack_key(path: str) -> tuple[str, bool] | None:
    """schnetpack 2 state-dict key of a tfatoms SchNet weight and whether to transpose it.

    ``path``: the weight's path inside the SchNet model (``variable.path`` after the model's own name, e.g.
    ``interaction_0/cfconv/filter_1/kernel``). ``None`` for weights schnetpack keeps as fixed buffers (the
    RBF centres and widths). Raises ``KeyError`` for a weight it has no counterpart for (e.g. a third
    filter layer).
    """
    parts = path.split("/")
    layer, leaf = "/".join(parts[:-1]), parts[-1]
    if layer == "rbf":
        return None
    if layer == "embedding" and leaf == "embeddings":
        return "representation.embedding.weight", False
    suffix = {"kernel": "weight", "bias": "bias"}.get(leaf)
    if suffix is not None and layer in _HEAD:
        return f"{_HEAD[layer]}.{suffix}", leaf == "kernel"
    if suffix is not None and layer.startswith("interaction_"):
        block, _, sub = layer.partition("/")
        if sub in _INTERACTION:
            return f"representation.interactions.{int(block.split('_')[1])}.{_INTERACTION[sub]}.{suffix}", \
                leaf == "kernel"
    raise KeyError(f"no schnetpack counterpart for the tfatoms weight {path!r}")


def schnetpack_state(model, values=None) -> dict[str, np.ndarray]:
    """``model``'s trainable weights (or ``values``, one array per trainable weight) under schnetpack's keys."""
    values = [v.numpy() for v in model.trainable_weights] if values is None else values
    out = {}
    for var, value in zip(model.trainable_weights, values):
        # the path starts with the names of the models around it (Potential's), then the model's own
        key, transpose = schnetpack_key(var.path.split(f"{model.name}/", 1)[1])
        if key in out:
            raise ValueError(f"two tfatoms weights map to {key}")
        out[key] = np.asarray(value).T if transpose else np.asarray(value)
    return out


class TfatomsRun:
    """One tfatoms configuration: model, BatchTrainer with the eq. 5.7 loss, pre-collated batch tensors."""

    def __init__(self, config: str, jit: bool, data: dict, rbf_cutoff: float):
        c = CONFIGS[config]
        self.name = f"tfatoms_{config}_{'xla' if jit else 'graph'}"
        self.config, self.jit = config, jit
        self.model = SchNet(n_features=F, n_interactions=T, rbf_cutoff=rbf_cutoff, rbf_spacing=RBF_SPACING,
                            gamma=GAMMA, cutoff=rbf_cutoff if c["cutoff_at_rbf"] else None, **c["model"])
        self.trainer = BatchTrainer(self.model, learning_rate=LR, jit_compile=jit, loss=EnergyForceLoss(rho=RHO))
        atom_bucket, pair_bucket = c["buckets"]
        self.data = MoleculeBatches(data["numbers"], data["positions"], data["offsets"], data["energy"],
                                    batch_size=BATCH, forces=data["forces"], atom_bucket=atom_bucket,
                                    pair_bucket=pair_bucket)
        self.batches = [step_tensors(*b[1:]) for b in self.data.batches()]
        t0 = time.perf_counter()
        for b in self.batches:                       # every padded shape compiled before timing
            self.trainer._train_step(*b)
        self.compile_train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for b in self.batches:
            self.trainer._predict_step(b[0])
        self.compile_infer_s = time.perf_counter() - t0
        first = self.batches[0][0]
        self.shape = {"atoms": int(first[keys.ATOMIC_NUMBERS].shape[0]), "pairs": int(first[keys.IDX_I].shape[0])}

    def rate(self, phase: str, steps: int) -> float:
        """Molecules/s of ``steps`` steps of ``phase`` ("train" or "infer_forces") after 5 untimed ones."""
        cycle = [self.batches[k % len(self.batches)] for k in range(steps + 5)]
        if phase == "train":
            return steps * BATCH / timed(lambda b: self.trainer._train_step(*b).numpy(), cycle)
        return steps * BATCH / timed(lambda b: self.trainer._predict_step(b[0])[keys.FORCES].numpy(), cycle)

    def describe(self) -> dict:
        return {"config": self.config, "jit_compile": self.jit, "n_params": int(self.model.count_params()),
                "trainable_params": int(sum(np.prod(v.shape) for v in self.model.trainable_weights)),
                "model": self.model.get_config(), "batch_shape": self.shape,
                "compile_seconds": {"train": self.compile_train_s, "infer": self.compile_infer_s}}

    def check_values(self) -> dict:
        """Energy, forces (real atoms), loss and loss gradients (schnetpack keys) on batch 0, as in training."""
        batch, targets, weights = self.batches[0]
        with tf.GradientTape() as tape:
            pred = self.trainer.potential(batch, training=True)
            loss = self.trainer.loss(targets, pred, weights, batch)
        grads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, self.model.trainable_weights)]
        n_atoms = int(np.sum(self.data.n_atoms[:BATCH]))
        return {"energy": pred[keys.ENERGY].numpy()[:BATCH], "forces": pred[keys.FORCES].numpy()[:n_atoms],
                "loss": float(loss), "grads": schnetpack_state(self.model, grads)}


def compare(ours: dict, theirs: dict) -> dict:
    """Largest differences between the two frameworks' batch-0 values, relative to their scale."""
    e_scale = float(np.abs(theirs["energy"]).max()) + 1e-12
    f_scale = float(np.abs(theirs["forces"]).max()) + 1e-12
    grad_rel = {}
    for key, g in ours["grads"].items():
        ref = theirs["grad/" + key]
        grad_rel[key] = float(np.abs(g - ref).max() / (np.abs(ref).max() + 1e-30))
    worst = max(grad_rel, key=grad_rel.get)
    out = {"energy_max_abs_diff_eV": float(np.abs(ours["energy"] - theirs["energy"]).max()),
           "energy_rel": float(np.abs(ours["energy"] - theirs["energy"]).max()) / e_scale,
           "forces_max_abs_diff_eV_A": float(np.abs(ours["forces"] - theirs["forces"]).max()),
           "forces_rel": float(np.abs(ours["forces"] - theirs["forces"]).max()) / f_scale,
           "loss_tfatoms": ours["loss"], "loss_schnetpack": float(theirs["loss"]),
           "loss_rel": abs(ours["loss"] - float(theirs["loss"])) / abs(float(theirs["loss"])),
           "grad_max_rel": grad_rel[worst], "grad_worst_parameter": worst,
           "parameters_compared": len(grad_rel)}
    out["passed"] = all(out[k] < CHECK_RTOL for k in ("energy_rel", "forces_rel", "loss_rel", "grad_max_rel"))
    return out


def flop_count(run: TfatomsRun) -> dict:
    """Work of one train step and one energy+forces step, from their TensorFlow graphs (one batch).

    ``*_flops``: what TensorFlow's profiler counts (matrix products 2 per multiply-add, elementwise ops
    1 per element); ``*_bytes_written``: the bytes of every op output in the graph (static shapes), i.e.
    what graph mode writes to memory without fusion; XLA fuses most of the elementwise ones away.
    """
    out = {}
    for name, fn, args in (("train", run.trainer._train_step, run.batches[0]),
                           ("infer_forces", run.trainer._predict_step, run.batches[0][:1])):
        graph = fn.get_concrete_function(*args).graph
        opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        out[f"{name}_flops"] = int(tf.compat.v1.profiler.profile(graph, options=opts).total_float_ops)
        written = 0
        for op in graph.get_operations():
            for t in op.outputs:
                if t.shape.is_fully_defined() and t.dtype.is_numpy_compatible:
                    written += int(np.prod(t.shape.as_list())) * t.dtype.size
        out[f"{name}_bytes_written"] = written
    return out


def measure_round(k: int, runs: list, sp, args) -> dict:
    """One round: per phase schnetpack, then each tfatoms run followed by schnetpack again (molecules/s).

    ``ratio``: each tfatoms figure over the mean of the schnetpack figures just before and after it.
    """
    row = {}
    for phase, steps in (("train", args.train_batches), ("infer_forces", args.infer_batches)):
        def sp_rate():
            return steps * BATCH / sp.seconds(phase, steps)
        out = {"schnetpack": [sp_rate()]} if sp is not None else {}
        ratio = {}
        for r in runs:
            out[r.name] = r.rate(phase, steps)
            if sp is not None:
                out["schnetpack"].append(sp_rate())
                ratio[r.name] = out[r.name] / float(np.mean(out["schnetpack"][-2:]))
        if ratio:
            out["ratio"] = ratio
        row[phase] = out
        print(f"round {k + 1} {phase}: " + json.dumps(
            {n: (np.round(v, 1).tolist()) for n, v in out.items() if n != "ratio"}), flush=True)
    return row


def median(values):
    return float(np.median(np.asarray(values, dtype=np.float64)))


def main(args):
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    load_at_start = list(os.getloadavg())
    atoms = AtomsData.read(args.data).require("energy", "forces")
    if atoms.units.get("energy", "eV") != "eV" or atoms.units.get("forces", "eV/A") != "eV/A":
        atoms = atoms.to_units({"energy": "eV", "forces": "eV/A"})
    n = min(args.molecules, len(atoms)) // BATCH * BATCH
    sub = atoms.subset(np.arange(n))
    energy = np.asarray(sub.properties["energy"], np.float64)
    # RBF centres up to the largest distance + 1 A, as reproductions/schnet_md17.py chooses them
    d_max = max(float(np.linalg.norm(a.positions[:, None] - a.positions[None], axis=-1).max()) for a in sub)
    rbf_cutoff = float(np.ceil(d_max + 1.0))
    n_rbf = int(round(rbf_cutoff / RBF_SPACING)) + 1
    # the exact arrays tfatoms trains on (centred positions, float32) go to schnetpack too
    ref = MoleculeBatches(sub.numbers, sub.positions, sub.ptr, energy - energy.mean(), batch_size=BATCH,
                          forces=sub.properties["forces"])
    data = {"numbers": ref.numbers, "positions": ref.positions, "offsets": ref.offsets,
            "energy": ref.targets, "forces": ref.forces}

    runs = [TfatomsRun(c, jit, data, rbf_cutoff) for c in args.configs for jit in (False, True)]
    results = {"data": str(args.data), "molecules": n, "batch_size": BATCH, "threads": args.threads,
               "rounds": args.rounds, "train_batches": args.train_batches, "infer_batches": args.infer_batches,
               "model": f"SchNet F={F} T={T}, {n_rbf} RBF centres 0-{rbf_cutoff:g} A (gamma {GAMMA:g}), all pairs",
               "loss": f"thesis eq. 5.7, rho = {RHO}, Adam {LR}",
               "mean_atoms_per_molecule": float(ref.n_atoms.mean()),
               "mean_pairs_per_molecule": float(ref.n_pairs().mean()), "max_pair_distance": d_max,
               "tfatoms": {r.name: r.describe() for r in runs}}
    tf.get_logger().setLevel("ERROR")   # the v1 profiler's deprecation warnings
    try:
        results["work_per_batch"] = {r.name: flop_count(r) for r in runs if not r.jit}
    except Exception as err:  # the profiler is an aid, not the measurement
        results["work_per_batch"] = {"error": repr(err)}
    print(json.dumps({k: v for k, v in results.items() if k != "tfatoms"}, indent=1), flush=True)

    sp_env = {} if args.omp_wait_policy == "default" else {"OMP_WAIT_POLICY": args.omp_wait_policy}
    with tempfile.TemporaryDirectory() as tmp:
        sp = None
        if args.schnetpack_python:
            results["schnetpack_env"] = sp_env
            options = ["--forces", "--rho", str(RHO), "--lr", str(LR), "--batch-size", str(BATCH),
                       "--n-rbf", str(n_rbf), "--rbf-cutoff", str(rbf_cutoff), "--rbf-gamma", str(GAMMA),
                       "--features", str(F), "--interactions", str(T), "--head-activation", "ssp",
                       "--threads", str(args.threads)]
            matched = next((r for r in runs if r.config == "matched"), None)
            if matched is not None:
                weights, check_out = Path(tmp) / "weights.npz", Path(tmp) / "check.npz"
                np.savez(weights, **schnetpack_state(matched.model))
                options += ["--weights", str(weights), "--check-out", str(check_out)]
            sp = SchnetpackWorker(args.schnetpack_python, data, options, sp_env)
            if matched is not None:
                with np.load(check_out) as theirs:
                    results["check"] = compare(matched.check_values(), dict(theirs))
                print("check (same weights, batch 0):", json.dumps(results["check"]), flush=True)
                if not results["check"]["passed"]:
                    sp.close()
                    sys.exit("tfatoms and schnetpack disagree on the same weights: the comparison would not be "
                             "like for like (see the check above)")
        try:
            results["per_round"] = [measure_round(k, runs, sp, args) for k in range(args.rounds)]
            if sp is not None:
                results["schnetpack"] = sp.info()
        finally:
            if sp is not None:
                sp.close()
    phases = ("train", "infer_forces")
    rounds = results["per_round"]
    names = [r.name for r in runs] + (["schnetpack"] if sp is not None else [])
    results["median_molecules_per_s"] = {
        name: {ph: median([v for row in rounds for v in np.atleast_1d(row[ph][name])]) for ph in phases}
        for name in names}
    if sp is not None:
        results["median_ratio_over_schnetpack"] = {
            r.name: {ph: median([row[ph]["ratio"][r.name] for row in rounds]) for ph in phases} for r in runs}
    results["hardware"] = hardware()
    results["packages"] = package_versions()
    results["load_average"] = {"start": load_at_start, "end": list(os.getloadavg())}   # 1, 5, 15 min
    atomic_write(Path(args.out), json.dumps(results, indent=1))
    print(json.dumps({k: results[k] for k in ("median_molecules_per_s", "median_ratio_over_schnetpack")
                      if k in results}, indent=1))


if __name__ == "__main__":
    main(ARGS)
