"""Scaling of streamed EDNN inference on porous graphene sheets: EDNN paper sec. 3.3, Figs. 10-12.

The paper evaluated a 1.0 um^2 porous graphene sheet of 35.2 million atoms on
448 cores in 24.7 min (about 53 atoms per second per core) with a custom
distributed TensorFlow. Here ``mpi/infer_sheet.py`` (mpi4py, one Allreduce)
runs the packaged pretrained EDNN (tile CNN of sec. 2.1, f = 64, c = 32, the
paper's pixel size) on seeded porous sheets:

* time vs sheet area at a fixed rank count (Fig. 10: linear in the atoms),
  up to 1/100 of the paper's sheet by default;
* time vs rank count at a fixed area, for the rank counts this machine has cores for (Fig. 11);
* float32 vs mixed bfloat16 on one sheet (speed and energy difference);
* peak memory per rank vs area (bounded by the window, not the sheet);
* the 1 um^2 time extrapolated from the measured atoms/s/core, next to the paper's 24.7 min.

Budgets:
  --quick   seconds: tiny sheets (tests).
  default   about 10 min on 2 cores: areas 0.0005 to 0.01 um^2 (18,000 to 352,000 atoms).
  --full    adds the whole 1 um^2 sheet (35 M atoms; 64.6 min measured on 2 AVX-512 cores here,
            about 3 h on an AVX2-only machine: see BENCHMARKS.md).

    python reproductions/ednn_sheet_scaling.py [--quick | --full] [--ranks 2] [--model NAME]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfatoms.reproduce import ResultsWriter  # noqa: E402
from tfatoms.reproduce.cli import budget_name, positive, reproduction_parser, results_name  # noqa: E402
from tfatoms.reproduce.references import reference  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = {
    "quick": dict(areas=(0.0001, 0.0004), rank_area=0.0002, precision_area=0.0002),
    "default": dict(areas=(0.0005, 0.001, 0.0025, 0.005, 0.01), rank_area=0.0025, precision_area=0.0025),
    "full": dict(areas=(0.0005, 0.001, 0.0025, 0.005, 0.01, 1.0), rank_area=0.0025, precision_area=0.0025),
}


def run_driver(ranks: int, area: float, model: str, threads: int | None = None, precision: str = "float32",
               seed: int = 0) -> dict:
    """One ``mpirun -n ranks python mpi/infer_sheet.py`` (or a plain process for 1 rank); its JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        cmd = [sys.executable, str(ROOT / "mpi" / "infer_sheet.py"), "--area", repr(area), "--model", model,
               "--precision", precision, "--seed", str(seed), "--out", str(out)]
        if threads:
            cmd += ["--threads", str(threads)]
        if ranks > 1:
            cmd = [str(Path(sys.executable).parent / "mpirun"), "-n", str(ranks)] + cmd
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        print(proc.stdout.strip(), flush=True)
        result = json.loads(out.read_text())
    result["command"] = " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))
    return result


def main(argv=None):
    p, _ = reproduction_parser(__doc__, "ednn_sheet_scaling", "also the whole 1 um^2 sheet (35 M atoms; 64.6 min measured on 2 cores, see BENCHMARKS.md)")
    p.add_argument("--ranks", type=positive(int), default=2, help="ranks of the area sweep (default 2: one per core here)")
    p.add_argument("--model", default="ednn_porous_graphene", help="pretrained model name or path")
    args = p.parse_args(argv)
    budget_key = budget_name(args)
    b = BUDGETS[budget_key]
    cores = len(os.sched_getaffinity(0))
    out = ResultsWriter(results_name("ednn_sheet_scaling", budget_key), root=args.out, seed=args.seed,
                        budget=budget_key, argv=["reproductions/ednn_sheet_scaling.py", *(sys.argv[1:] if argv is None else argv)],
                        protocol=f"mpi/infer_sheet.py, {args.ranks} rank(s) on {cores} cores, model {args.model}",
                        data_source="generated: seeded porous graphene sheets (tfatoms.data.sheets.PorousSheet)",
                        reference_method="none (EDNN inference only; accuracy in ednn_porous_graphene)")

    sweep = [run_driver(args.ranks, a, args.model, seed=args.seed) for a in b["areas"]]
    atoms = np.array([r["n_atoms"] for r in sweep], float)
    wall = np.array([r["wall_s"] for r in sweep])
    slope = float(np.sum(atoms * wall) / np.sum(atoms * atoms))           # s per atom, fit through 0
    largest = sweep[-1]
    per_core = largest["atoms_per_s_per_core"]
    paper_per_core = 35.2e6 / (24.7 * 60) / 448
    for r in sweep:
        out.add_row(f"{r['area_A2'] / 1e8:.4f} um^2 sheet ({r['n_atoms']:,} atoms), {args.ranks} ranks: wall time",
                    r["wall_s"], "s", metric=f"wall_s.area{r['area_A2'] / 1e8:.4f}",
                    note=f"generate {r['generate_s_max']:.1f} / rasterise {r['rasterise_s_max']:.1f} / network "
                         f"{r['network_s_max']:.1f} / wait {r['wait_s_max']:.2f} / reduce {r['reduce_s_max']:.4f} s "
                         f"(max over ranks); peak {r['peak_memory_mb_max']:.0f} MB/rank")
        out.metric(f"atoms_per_s_per_core.area{r['area_A2'] / 1e8:.4f}", r["atoms_per_s_per_core"])
        out.metric(f"peak_memory_mb.area{r['area_A2'] / 1e8:.4f}", r["peak_memory_mb_max"])
    out.add_row(f"atoms/s/core, end to end, largest sheet ({largest['n_atoms']:,} atoms)", per_core, "atoms/s/core",
                paper=paper_per_core, metric="atoms_per_s_per_core.largest",
                note="paper: 35.2 M atoms / (24.7 min x 448 cores)")
    out.add_row("fraction of time in the network (largest sheet)",
                largest["network_s_max"] / largest["wall_s"], "", metric="network_fraction.largest")
    mem = [r["peak_memory_mb_max"] for r in sweep]
    out.add_row("peak memory per rank, largest / smallest sheet", mem[-1] / mem[0], "",
                metric="peak_memory_ratio", note=f"{mem[0]:.0f} MB at {sweep[0]['n_atoms']:,} atoms, {mem[-1]:.0f} MB "
                                                 f"at {sweep[-1]['n_atoms']:,} atoms ({atoms[-1] / atoms[0]:.0f}x)")
    n_paper = reference("ednn/sheet_1um2/n_atoms").value
    t_1um2 = n_paper / (per_core * args.ranks * (largest["threads_per_rank"]))
    out.add_row(f"1 um^2 sheet (35.2 M atoms) on {args.ranks * largest['threads_per_rank']} cores, extrapolated",
                t_1um2 / 60, "min", metric="extrapolated_min_1um2.this_machine",
                note="from the largest sheet's atoms/s/core (time is linear in atoms, Fig. 10)")
    out.add_row("1 um^2 sheet on 448 cores at our atoms/s/core", n_paper / (per_core * 448) / 60, "min",
                paper="ednn/sheet_1um2/wall_time", metric="extrapolated_min_1um2.448_cores")

    rank_runs = []
    for ranks, threads in ((1, 1), (1, cores), (cores, 1)):
        r = run_driver(ranks, b["rank_area"], args.model, threads=threads, seed=args.seed)
        rank_runs.append(r)
        out.add_row(f"{b['rank_area']} um^2 ({r['n_atoms']:,} atoms): {ranks} rank(s) x {threads} thread(s)",
                    r["wall_s"], "s", metric=f"wall_s.rank_sweep.{ranks}x{threads}",
                    note=f"{r['atoms_per_s_per_core']:,.0f} atoms/s/core")
    energies = np.array([r["energy_eV"] for r in rank_runs])
    out.add_row("max relative energy difference across rank/thread counts", np.abs(energies - energies[0]).max()
                / abs(energies[0]), "", metric="energy_rel_diff.rank_sweep")
    out.add_row(f"speed-up of {cores} ranks over 1 rank x 1 thread", rank_runs[0]["wall_s"] / rank_runs[2]["wall_s"],
                "", metric="speedup.ranks")

    bf = run_driver(args.ranks, b["precision_area"], args.model, precision="mixed_bfloat16", seed=args.seed)
    fp = next((r for r in sweep if abs(r["area_A2"] / 1e8 - b["precision_area"]) < 1e-9), None) or \
        run_driver(args.ranks, b["precision_area"], args.model, seed=args.seed)
    out.add_row("mixed bfloat16 / float32 network time", bf["network_s_max"] / fp["network_s_max"], "",
                metric="bf16_network_time_ratio")
    out.add_row("mixed bfloat16 vs float32 energy difference per atom",
                abs(bf["energy_eV"] - fp["energy_eV"]) / fp["n_atoms"] * 1e3, "meV/atom", metric="bf16_error_meV_atom")

    fig, ax = plt.subplots(1, 2, figsize=(10, 4.2))
    ax[0].loglog(atoms, wall, "o-", label=f"tfatoms, {args.ranks} ranks ({cores} cores)")
    xs = np.geomspace(atoms.min(), n_paper, 50)
    ax[0].loglog(xs, slope * xs, "--", color="0.5", label="linear in atoms (fit)")
    ax[0].loglog([n_paper], [24.7 * 60], "r*", ms=12, label="paper: 448 cores, 24.7 min")
    ax[0].set(xlabel="atoms", ylabel="wall time (s)", title="(a) time vs sheet size (cf. Fig. 10)")
    ax[0].legend(fontsize=8)
    labels = [f"{r['n_ranks']}x{r['threads_per_rank']}" for r in rank_runs]
    ax[1].bar(labels, [r["wall_s"] for r in rank_runs])
    ax[1].set(xlabel="ranks x threads", ylabel="wall time (s)",
              title=f"(b) {b['rank_area']} um^2 vs ranks (cf. Fig. 11)")
    out.save_figure(fig, "fig10_11_scaling")
    out.extra["runs"] = dict(area_sweep=sweep, rank_sweep=rank_runs, bfloat16=bf)
    out.finish()
    return out


if __name__ == "__main__":
    main()
