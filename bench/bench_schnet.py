"""SchNet throughput on real QM9 molecules, tfatoms (TensorFlow) side by side with schnetpack (PyTorch).

One run measures, on the same molecules, batch size, model size and threads:
  1. tfatoms SchNet training steps (forward + MSE + backward + Adam), graph mode and XLA;
  2. inference (energy only) and inference with forces (Potential, F = -dE/dr);
  3. the same three for schnetpack, by running bench/schnetpack_side.py in its own
     virtual environment (``--schnetpack-python``; see bench/README_schnetpack.md),
and reports molecules/s and the ratios. Batches are collated before timing on both
sides, so data loading is excluded. The model is the thesis' SchNet (F = 64, T = 6,
RBF 0.1 A spacing up to 12.5 A = 126 centres, covering QM9's largest distance 12.04 A,
all pairs of a molecule); schnetpack gets the same number of centres over the same range.

    python bench/bench_schnet.py [--schnetpack-python /work/spvenv/bin/python] [--threads 2] [--compare-pairs] \
        [--repeats 3] [--forces-data ../shared/data/rmd17_ethanol/train.xyz]

``--repeats`` runs the whole measurement (both frameworks, one after the other) that many times and reports the
median of every figure and ratio (single runs on a shared 2-core machine move by 10-25 %, schnetpack's training
figure by up to 30 %; the per-repeat figures are kept under ``repeats``). ``--forces-data`` adds the third phase
the comparison needs, energy+force training, from ``bench/bench_schnet_forces.py`` on that rMD17 file (QM9 has no
forces), in the same run: its median ratios are reported under ``energy_force_training``. The run also measures
the machine's dense-matmul ceiling (a 2048^3 float32 matmul, best of 5) and reports each phase's achieved GFLOP/s
as a fraction of it (``fraction_of_matmul_ceiling``; FLOPs per molecule from ``inference_cost`` and
``training_cost``).

tfatoms computes SchNet's filters once per pair couple (i, j) / (j, i) (the batches' PAIR_HALF /
PAIR_INVERSE); ``--compare-pairs`` also times the every-pair evaluation in the same run. The inference phases are
also timed with the filter-generating networks as cubic splines in the distance
(``SchNet.with_tabulated_filters``, ``tfatoms.layers.filter_table``: the same energies and forces to float32
round-off, prediction only), reported as ``infer_tabulated_*`` and in ``ratio_tabulated_over_schnetpack``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfatoms import keys  # noqa: E402
from tfatoms.data.qm9 import load_qm9  # noqa: E402
from tfatoms.models import Potential, SchNet  # noqa: E402
from tfatoms.representations.padded import MoleculeBatches  # noqa: E402
from tfatoms.reproduce.results import atomic_write, hardware, package_versions  # noqa: E402
from tfatoms.train.trainer import BatchTrainer, step_tensors  # noqa: E402

RBF_CUTOFF, RBF_SPACING = 12.5, 0.1


def timed(fn, batches, warmup=5):
    for b in batches[:warmup]:
        fn(b)
    t0 = time.perf_counter()
    for b in batches[warmup:]:
        fn(b)
    return time.perf_counter() - t0


def _schnetpack_command(python: str, npz: Path, options: list[str]) -> list[str]:
    return [python, str(Path(__file__).with_name("schnetpack_side.py")), "--molecules", str(npz), *options]


def run_schnetpack(python: str, arrays: dict, options: list[str], env: dict | None = None) -> dict:
    """Run bench/schnetpack_side.py in the schnetpack venv on ``arrays`` (saved as its input .npz); its result JSON.

    ``options`` are its command-line flags other than ``--molecules`` and ``--out``; ``env``: variables to set
    for it (e.g. ``OMP_WAIT_POLICY``) on top of this process' environment.
    """
    with tempfile.TemporaryDirectory() as tmp:
        npz, out = Path(tmp) / "molecules.npz", Path(tmp) / "schnetpack.json"
        np.savez(npz, **arrays)
        subprocess.run(_schnetpack_command(python, npz, [*options, "--out", str(out)]), check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        return json.loads(out.read_text())


class SchnetpackWorker:
    """bench/schnetpack_side.py ``--serve`` in the schnetpack venv, timing phases on request.

    Set up once (batches collated, model built), it lets a harness alternate short phases of both
    frameworks, so load from other jobs on the machine falls on both alike. Arguments as
    :func:`run_schnetpack`; use as a context manager.
    """

    def __init__(self, python: str, arrays: dict, options: list[str], env: dict | None = None):
        self._tmp = tempfile.TemporaryDirectory()
        npz = Path(self._tmp.name) / "molecules.npz"
        np.savez(npz, **arrays)
        self.proc = subprocess.Popen(_schnetpack_command(python, npz, [*options, "--serve"]), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        self._reply()                                # {"ready": true}: set up and any --check-out written

    def _reply(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("@@ "):
                return json.loads(line[3:])
        raise RuntimeError(f"bench/schnetpack_side.py --serve ended (exit status {self.proc.wait()})")

    def request(self, **command) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def seconds(self, phase: str, steps: int, warmup: int = 3) -> float:
        """Seconds for ``steps`` steps of ``phase`` ("train", "infer", "infer_forces") after ``warmup``."""
        return self.request(phase=phase, steps=steps, warmup=warmup)["seconds"]

    def info(self) -> dict:
        return self.request(info=True)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None and self.proc.poll() is None:
            self.proc.kill()
        self.close()


HALF_KEYS = (keys.PAIR_HALF, keys.PAIR_INVERSE)


def tfatoms_side(data: MoleculeBatches, n_train: int, n_infer: int, jit: bool, half_pairs: bool = True) -> dict:
    """``half_pairs=False`` drops the batches' PAIR_HALF/PAIR_INVERSE: every pair's filter is computed."""
    model = SchNet(n_features=64, n_interactions=6, rbf_cutoff=RBF_CUTOFF, rbf_spacing=RBF_SPACING)
    trainer = BatchTrainer(model, learning_rate=1e-4, jit_compile=jit)
    all_batches = [step_tensors({k: v for k, v in b[1].items() if half_pairs or k not in HALF_KEYS}, *b[2:])
                   for b in data.batches()]
    # every padded shape is compiled before timing (XLA compiles once per bucket)
    for b in all_batches:
        trainer._train_step(*b)
    train = [all_batches[k % len(all_batches)] for k in range(n_train + 5)]
    infer = [all_batches[k % len(all_batches)] for k in range(n_infer + 5)]
    t_train = timed(lambda b: trainer._train_step(*b).numpy(), train)
    for b in all_batches:
        trainer._predict_step(b[0])
    t_infer = timed(lambda b: trainer._predict_step(b[0]).numpy(), infer)
    potential = Potential(model, compute_forces=True)
    forces_step = tf.function(lambda batch: potential(batch)[keys.FORCES], jit_compile=jit, reduce_retracing=True)
    for b in all_batches:
        forces_step(b[0])
    t_forces = timed(lambda b: forces_step(b[0]).numpy(), infer)
    tabulated = model.with_tabulated_filters()
    energy_tab = tf.function(lambda batch: tabulated(batch), jit_compile=jit, reduce_retracing=True)
    potential_tab = Potential(tabulated, compute_forces=True)
    forces_tab = tf.function(lambda batch: potential_tab(batch)[keys.FORCES], jit_compile=jit, reduce_retracing=True)
    for b in all_batches:
        energy_tab(b[0])
        forces_tab(b[0])
    t_infer_tab = timed(lambda b: energy_tab(b[0]).numpy(), infer)
    t_forces_tab = timed(lambda b: forces_tab(b[0]).numpy(), infer)
    bs = data.batch_size
    pad_atoms = np.mean([b[0][keys.ATOMIC_NUMBERS].shape[0] for b in all_batches]) / (data.n_atoms.sum() / len(all_batches))
    pad_pairs = np.mean([b[0][keys.IDX_I].shape[0] for b in all_batches]) / (data.n_pairs().sum() / len(all_batches))
    return {"framework": "tfatoms", "jit_compile": jit, "half_pairs": half_pairs, "n_params": int(model.count_params()),
            "train_molecules_per_s": n_train * bs / t_train, "infer_molecules_per_s": n_infer * bs / t_infer,
            "infer_forces_molecules_per_s": n_infer * bs / t_forces,
            "infer_tabulated_molecules_per_s": n_infer * bs / t_infer_tab,
            "infer_tabulated_forces_molecules_per_s": n_infer * bs / t_forces_tab,
            "padding_factor_atoms": float(pad_atoms), "padding_factor_pairs": float(pad_pairs)}


def inference_cost(n_atoms: float, n_pairs: float, features: int = 64, interactions: int = 6, n_rbf: int = 126,
                   tabulated: bool = False) -> dict:
    """FLOPs (a multiply-add is 2) and bytes of table rows gathered per molecule of an energy-only SchNet
    prediction, counting the dense layers, the filters (once per couple: ``n_pairs / 2``), the pair products and
    sums; ``transcendentals``: the Gaussians (one ``exp``) and the softplus (two each). Padding excluded."""
    couples, f = n_pairs / 2, features
    atomwise = interactions * 3 * n_atoms * f * f * 2 + n_atoms * (f * f // 2 + f // 2) * 2
    pairs = interactions * n_pairs * f * 2                       # x_j * W and the sum onto i
    if tabulated:
        filters = interactions * couples * f * 3 * 2             # three multiply-adds (Horner)
        gathered = interactions * couples * 4 * f * 4            # one row of 4 x F float32 per couple
        transcendental = interactions * 2 * n_atoms * f
    else:
        filters = interactions * couples * (n_rbf * f + f * f) * 2
        gathered = 0
        transcendental = couples * n_rbf + interactions * (2 * couples * f + n_atoms * f) * 2
    return {"flops": float(atomwise + pairs + filters), "filter_flops": float(filters),
            "table_bytes_gathered": float(gathered), "transcendentals": float(transcendental)}


def training_cost(n_atoms: float, n_pairs: float, features: int = 64, interactions: int = 6,
                  n_rbf: int = 126) -> dict:
    """FLOPs per molecule of an energy training step (forward, backward, no optimizer): the forward
    (:func:`inference_cost`) plus twice it for the backward (each dense layer's input and weight gradients),
    less the input gradient of the first filter layer, which the radial basis does not need."""
    forward = inference_cost(n_atoms, n_pairs, features, interactions, n_rbf)
    first_filter_layer = interactions * n_pairs / 2 * n_rbf * features * 2
    return {"flops": float(3 * forward["flops"] - first_filter_layer),
            "filter_flops": float(3 * forward["filter_flops"] - first_filter_layer)}


def matmul_ceiling_gflops(repeats: int = 5) -> float:
    """GFLOP/s of a 2048^3 float32 matmul in graph mode, best of ``repeats`` (as bench/bench_tile_cnn.py)."""
    a = tf.random.normal((2048, 2048))
    matmul = tf.function(lambda: tf.linalg.matmul(a, a))
    matmul().numpy()
    best = min(timed(lambda _: matmul().numpy(), [None, None], warmup=1) for _ in range(repeats))   # one timed call
    return 2 * 2048 ** 3 / best / 1e9


def median_of(runs: list[dict]) -> dict:
    """The per-key median of a list of result dicts with the same nested layout (numbers only; other values
    are taken from the first)."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: median_of([r[k] for r in runs]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return float(np.median(runs))
    return first


def run_settings(threads: int) -> dict:
    """What the tfatoms figures depend on besides the CPU: threads, oneDNN and XLA switches, TensorFlow's build.

    Every padded batch shape is compiled (graph and XLA) before any timed step, so compile time is outside the
    timed region; the figures are steps over pre-collated batches only."""
    build = {k: v for k, v in tf.sysconfig.get_build_info().items() if k in ("cpu_compiler", "is_cuda_build")}
    return {"intra_op_threads": threads, "inter_op_threads": 1,
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", ""),
            "tensorflow_build": build, "compile_in_timed_region": False}


def measure(args, data, sub, energy, n_rbf) -> dict:
    """One measurement of every phase: tfatoms graph and XLA (and every pair with ``--compare-pairs``), then
    schnetpack, and their ratios."""
    results = {}
    for half in (True, False) if args.compare_pairs else (True,):
        for jit in (False, True):
            r = tfatoms_side(data, args.train_batches, args.infer_batches, jit, half_pairs=half)
            results[("tfatoms_xla" if jit else "tfatoms_graph") + ("" if half else "_every_pair")] = r
            print(json.dumps(r), flush=True)
    if args.schnetpack_python:
        results["schnetpack"] = run_schnetpack(
            args.schnetpack_python,
            dict(numbers=sub.numbers, positions=sub.positions, offsets=sub.offsets, energy=energy),
            ["--batch-size", str(args.batch_size), "--n-rbf", str(n_rbf), "--rbf-cutoff", str(RBF_CUTOFF),
             "--rbf-gamma", "10.0", "--features", "64", "--interactions", "6", "--threads", str(args.threads),
             "--train-batches", str(args.train_batches), "--infer-batches", str(args.infer_batches)])
        sp = results["schnetpack"]
        ours = (results["tfatoms_graph"], results["tfatoms_xla"])
        results["ratio_tfatoms_over_schnetpack"] = {  # the faster of graph mode and XLA, per measurement
            k: max(r[k] for r in ours) / sp[k]
            for k in ("train_molecules_per_s", "infer_molecules_per_s", "infer_forces_molecules_per_s")}
        results["ratio_tabulated_over_schnetpack"] = {
            k: max(r[f"infer_tabulated_{k}"] for r in ours) / sp[f"infer_{k}"]
            for k in ("molecules_per_s", "forces_molecules_per_s")}
        print(json.dumps({k: results[k] for k in ("ratio_tfatoms_over_schnetpack",
                                                  "ratio_tabulated_over_schnetpack")}), flush=True)
    return results


def energy_force_training(args) -> dict:
    """Energy+force training side by side with schnetpack: ``bench/bench_schnet_forces.py`` on
    ``--forces-data`` (its default rounds and configurations), its medians and the file it wrote."""
    import bench_schnet_forces                       # it imports this module: import it only when needed
    out = Path(args.out).with_name(Path(args.out).stem + "_forces.json")
    argv = ["--data", args.forces_data, "--threads", str(args.threads), "--out", str(out)]
    if args.schnetpack_python:
        argv += ["--schnetpack-python", args.schnetpack_python]
    bench_schnet_forces.main(bench_schnet_forces.parse_args(argv))
    forces = json.loads(out.read_text())
    return {"command": "python bench/bench_schnet_forces.py " + " ".join(argv), "results": str(out),
            **{k: forces[k] for k in ("model", "loss", "median_molecules_per_s", "median_ratio_over_schnetpack")
               if k in forces}}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecules", type=int, default=2048, help="random QM9 molecules (seed 0)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--train-batches", type=int, default=60)
    p.add_argument("--infer-batches", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--schnetpack-python", help="python of the schnetpack venv (omit to skip that side)")
    p.add_argument("--compare-pairs", action="store_true",
                   help="also time tfatoms with every pair's filter computed (batches without PAIR_HALF/INVERSE)")
    p.add_argument("--repeats", type=int, default=3, help="whole measurements; medians are reported")
    p.add_argument("--forces-data", help="rMD17 extended XYZ: also time energy+force training side by side "
                                         "(bench/bench_schnet_forces.py), e.g. ../shared/data/rmd17_ethanol/train.xyz")
    p.add_argument("--out", default="bench/results/schnet_qm9.json")
    args = p.parse_args()
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.forces_data and not Path(args.forces_data).is_file():
        p.error(f"--forces-data {args.forces_data}: no such file")
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    qm9 = load_qm9(progress=False)
    idx = np.sort(np.random.default_rng(0).permutation(len(qm9))[:args.molecules])
    sub = qm9.subset(idx)
    energy = sub.target("U0")
    data = MoleculeBatches(sub.numbers, sub.positions, sub.offsets, energy, batch_size=args.batch_size)
    n_rbf = int(round(RBF_CUTOFF / RBF_SPACING)) + 1
    results = {"molecules": args.molecules, "batch_size": args.batch_size, "threads": args.threads,
               "model": f"SchNet F=64 T=6, {n_rbf} RBF centres 0-{RBF_CUTOFF} A, all pairs",
               "mean_atoms_per_molecule": float(sub.n_atoms.mean()),
               "mean_pairs_per_molecule": float(data.n_pairs().mean())}
    results["cost_per_molecule"] = {kind: inference_cost(sub.n_atoms.mean(), data.n_pairs().mean(), n_rbf=n_rbf,
                                                         tabulated=kind == "tabulated")
                                    for kind in ("network", "tabulated")}
    results["matmul_ceiling_gflops"] = matmul_ceiling_gflops()
    repeats = [measure(args, data, sub, energy, n_rbf) for _ in range(args.repeats)]
    results.update(median_of(repeats))
    results["repeats"] = repeats
    cost = results["cost_per_molecule"]
    cost["training"] = training_cost(sub.n_atoms.mean(), data.n_pairs().mean(), n_rbf=n_rbf)
    ceiling = results["matmul_ceiling_gflops"]
    xla = results["tfatoms_xla"]
    results["fraction_of_matmul_ceiling"] = {
        "train (XLA)": xla["train_molecules_per_s"] * cost["training"]["flops"] / 1e9 / ceiling,
        "infer (XLA)": xla["infer_molecules_per_s"] * cost["network"]["flops"] / 1e9 / ceiling,
        "infer tabulated (XLA)": xla["infer_tabulated_molecules_per_s"] * cost["tabulated"]["flops"] / 1e9 / ceiling}
    if args.forces_data:
        results["energy_force_training"] = energy_force_training(args)
    results["hardware"] = hardware()
    results["packages"] = package_versions()
    results["settings"] = run_settings(args.threads)
    atomic_write(Path(args.out), json.dumps(results, indent=1))
    print(json.dumps({k: v for k, v in results.items() if k not in ("hardware", "packages", "repeats")}, indent=1))


if __name__ == "__main__":
    main()
