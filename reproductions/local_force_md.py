"""Molecular dynamics with direct forces: how far the local force DNN is from conserving energy and momentum.

Kuritz, Gordon and Natan predict forces directly, with no energy: such a field is not a gradient, so Newtonian MD
with it conserves no energy, and its forces need not sum to zero, so it does not conserve momentum either. This
script measures both on real-data silicon, with the package's shipped model (``local_force_si_mlearn``, trained
on the mlearn PBE Si set; ``--model`` takes another name or a ``.keras`` file of a Si model).

System: 64-atom diamond Si (2 x 2 x 2 cubic cells, a = 5.43 A), Maxwell-Boltzmann velocities at 600 K (zero total
momentum; equipartition brings the crystal to about 300 K), seeded; ``tfatoms.data.reference.sample_md``, 1 fs
steps, a snapshot every 20 steps (10 in --quick). The DNN has no energy, so the total energy is booked with the
SNAP potential of Zuo et al. (fitted to the same mlearn PBE data; LAMMPS ``pair_style snap``): E = K + U_SNAP along
each trajectory.

Runs:
  1. SNAP, NVE: the conserving reference (its drift is the integrator's).
  2. DNN, NVE: the direct forces as they are.
  3. DNN, NVE, ``remove_net_force=True``: the mean force subtracted from every atom (momentum conserved exactly).
  4. DNN, Langevin at 300 K (friction 0.01/fs): the thermostat's answer to the heating.
Per run: the drift of K + U_SNAP (slope of a linear fit, and the largest excursion, meV/atom), the temperature
at the start and over the last 10 % of the run, the total momentum and the centre-of-mass displacement at the end,
and the mean |sum of forces|.

Loop integrals: for a conservative field the work around any closed loop is zero. For randomly chosen atoms of
thermal snapshots of run 1, one atom is moved around a circle of radius 0.1 A (random plane) while the others stay,
and the work W = closed-loop integral of F . dr is summed over 64 points (trapezoid rule, exact to round-off for a
smooth periodic integrand) for SNAP (expect ~0) and for the DNN; compared with k_B T.

Budgets:
  --quick    seconds: 100 steps per run, 3 loops of 16 points.
  default    about 7.5 minutes on 2 cores (SNAP costs about 50 ms per step here): 5,000 steps (5 ps) per run, a
             snapshot every 20 steps, 24 loops of 64 points.
  --full     50,000 steps (50 ps) per run, 128 loops.

    python reproductions/local_force_md.py [--quick | --full] [--model local_force_si_mlearn]

Outputs (reproductions/results/local_force_md[_<budget>]/): table.md/csv, drift.png, metrics.json, provenance.json.
The MD runs resume from their checkpoints under --cache-dir after an interruption.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

from tfatoms.reproduce.cli import budget_name, reproduction_parser, results_name

SCRIPT = "local_force_md"
BUDGETS = {
    "quick": dict(steps=100, interval=10, loops=3, loop_points=16),
    "default": dict(steps=5_000, interval=20, loops=24, loop_points=64),
    "full": dict(steps=50_000, interval=20, loops=128, loop_points=64),
}
START_TEMPERATURE_K = 600.0      # Maxwell-Boltzmann at 2 T: the crystal equilibrates near 300 K
LANGEVIN_K = 300.0
TIMESTEP_FS = 1.0
LOOP_RADIUS_A = 0.1


def parse_args(argv=None):
    p, _ = reproduction_parser(__doc__, SCRIPT, "50 ps per run, 128 loop integrals")
    p.add_argument("--model", default="local_force_si_mlearn",
                   help="a shipped LocalForceDNN by name or a .keras file of one trained on Si (default %(default)s)")
    return p.parse_args(argv)


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before TensorFlow loads

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from ase import units  # noqa: E402
from ase.build import bulk  # noqa: E402

from tfatoms.calculators import LocalForceCalculator, resolve_model  # noqa: E402
from tfatoms.data.local_force import REFERENCES  # noqa: E402
from tfatoms.data.reference import label as label_structures, reference_calculator, sample_md  # noqa: E402
from tfatoms.reproduce import ResultsWriter  # noqa: E402

MEV = 1000.0


def silicon():
    """64-atom diamond Si, 2 x 2 x 2 cubic cells, a = 5.43 A."""
    return bulk("Si", "diamond", a=5.43, cubic=True) * (2, 2, 2)


SNAP = REFERENCES["snap"]


def snap_energies(data, snap_kwargs: dict) -> np.ndarray:
    """U_SNAP (eV) of every snapshot of ``data``, through the package's one labelling function."""
    return label_structures(data, SNAP.calculator, properties=("energy",), calculator_kwargs=snap_kwargs,
                            progress=False).properties["energy"]


def run_summary(data, energies, masses, forces=None) -> dict:
    """Drift of K + U_SNAP, temperatures, momentum and centre-of-mass displacement of one trajectory."""
    n = len(masses)
    t_ps = data.properties["time"] / 1000.0
    total = (data.properties["kinetic_energy"] + energies) / n * MEV            # meV/atom
    rel = total - total[0]
    slope = float(np.polyfit(t_ps, rel, 1)[0])
    temperature = data.properties["kinetic_energy"] / (1.5 * n * units.kB)
    tail = max(1, len(temperature) // 10)
    pos = data.positions.reshape(len(data), n, 3)
    com = (pos * masses[None, :, None]).sum(axis=1) / masses.sum()
    out = dict(drift_meV_atom_per_ps=slope, max_excursion_meV_atom=float(np.abs(rel).max()),
               temperature_start_K=float(temperature[0]), temperature_end_K=float(temperature[-tail:].mean()),
               momentum_end=float(np.linalg.norm(data.properties["momentum"][-1])),
               com_displacement_A=float(np.linalg.norm(com[-1] - com[0])), t_ps=t_ps, total_rel=rel,
               temperature=temperature, momentum=np.linalg.norm(data.properties["momentum"], axis=1))
    if forces is not None:
        f = forces.reshape(len(data), n, 3)
        out["mean_net_force_eV_A"] = float(np.linalg.norm(f.sum(axis=1), axis=1).mean())
    return out


def loop_work(calc, atoms, index: int, normal, radius: float, n_points: int) -> float:
    """Work (eV) of the force on atom ``index`` as it goes once round a circle of ``radius`` in the plane normal
    to ``normal``, the other atoms fixed: zero for a conservative field. Trapezoid rule on ``n_points``."""
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    u = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    theta = np.arange(n_points) * 2.0 * np.pi / n_points
    moved = atoms.copy()
    moved.calc = calc
    centre = atoms.positions[index].copy()
    work = 0.0
    for th in theta:
        pos = moved.positions.copy()
        pos[index] = centre + radius * (np.cos(th) * u + np.sin(th) * v)
        moved.positions = pos
        tangent = radius * (-np.sin(th) * u + np.cos(th) * v)            # dr/dtheta
        work += float(moved.get_forces()[index] @ tangent)
    return work * 2.0 * np.pi / n_points


def drift_figure(runs: dict):
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for label, r in runs.items():
        if "Langevin" not in label:
            axes[0].plot(r["t_ps"], r["total_rel"], label=label)
        axes[1].plot(r["t_ps"], r["temperature"], label=label)
        axes[2].plot(r["t_ps"], r["momentum"], label=label)
    axes[0].set(xlabel="t (ps)", ylabel="K + U_SNAP - E(0) (meV/atom)", title="energy (booked with SNAP)")
    axes[1].set(xlabel="t (ps)", ylabel="T (K)", title="temperature")
    axes[2].set(xlabel="t (ps)", ylabel="|P| (amu A/fs)", title="total momentum")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.suptitle("64-atom Si, 1 fs steps: direct DNN forces vs SNAP")
    fig.tight_layout()
    return fig


def main(argv=None):
    args = parse_args(argv)
    budget_key = budget_name(args)
    b = BUDGETS[budget_key]
    model, model_desc, meta = resolve_model(args.model, SCRIPT)
    if not hasattr(model, "n_neighbors"):
        raise SystemExit(f"--model {args.model}: a {type(model).__name__}, not a LocalForceDNN")
    if model.elements is not None and 14 not in model.elements:
        raise SystemExit(f"--model {args.model}: trained on Z = {model.elements}, not on Si (Z = 14)")
    trained_on = (meta or {}).get("trained_on") or (meta or {}).get("data") or "see its metadata"
    out = ResultsWriter(results_name(SCRIPT, budget_key), root=args.out, seed=args.seed, budget=budget_key,
                        data_source=f"generated: NVE/Langevin MD of 64-atom diamond Si with {model_desc} and SNAP",
                        reference_method=SNAP.description + " (energy bookkeeping, run 1)",
                        protocol=f"sample_md, {TIMESTEP_FS:g} fs, {b['steps']} steps per run, snapshot every "
                                 f"{b['interval']}; start: Maxwell-Boltzmann at {START_TEMPERATURE_K:g} K",
                        argv=[f"reproductions/{SCRIPT}.py", *(sys.argv[1:] if argv is None else argv)])
    ckpt = Path(args.cache_dir) / "checkpoints" / f"{SCRIPT}_{budget_key}_seed{args.seed}"
    start = silicon()
    snap_kwargs = SNAP.calculator_kwargs(ckpt / "potentials")
    masses = start.get_masses()
    progress = not args.quick
    md = dict(steps=b["steps"], interval=b["interval"], seed=args.seed, timestep=TIMESTEP_FS, progress=progress,
              include_start=True)
    dnn = functools.partial(LocalForceCalculator, model)
    dnn_net = functools.partial(LocalForceCalculator, model, remove_net_force=True)
    plan = {
        "SNAP, NVE": dict(calculator=SNAP.calculator, calculator_kwargs=snap_kwargs,
                          temperature=START_TEMPERATURE_K, thermostat="nve", properties=("energy", "forces")),
        "DNN, NVE": dict(calculator=dnn, temperature=START_TEMPERATURE_K, thermostat="nve", properties=("forces",)),
        "DNN, NVE, net force removed": dict(calculator=dnn_net, temperature=START_TEMPERATURE_K, thermostat="nve",
                                            properties=("forces",)),
        f"DNN, Langevin {LANGEVIN_K:g} K": dict(calculator=dnn, temperature=LANGEVIN_K, thermostat="langevin",
                                                properties=("forces",)),
    }
    runs, trajectories = {}, {}
    for k, (label, kw) in enumerate(plan.items()):
        print(f"== run {k + 1}: {label}", flush=True)
        data = sample_md(start, checkpoint=ckpt / f"run{k + 1}", **md, **kw)
        energies = data.properties["energy"] if "energy" in data.properties else snap_energies(data, snap_kwargs)
        runs[label] = run_summary(data, energies, masses, data.properties["forces"])
        trajectories[label] = data
        r = runs[label]
        print(f"   K + U_SNAP drift {r['drift_meV_atom_per_ps']:+.3f} meV/atom/ps, T {r['temperature_start_K']:.0f} -> "
              f"{r['temperature_end_K']:.0f} K, |P| {r['momentum_end']:.3g} amu A/fs", flush=True)

    print(f"== loop integrals: {b['loops']} loops of {b['loop_points']} points, radius {LOOP_RADIUS_A} A", flush=True)
    rng = np.random.default_rng(args.seed)
    frames = trajectories["SNAP, NVE"]
    loops = {"SNAP": [], "DNN": []}
    snap_calc, dnn_calc = reference_calculator(SNAP.calculator, **snap_kwargs), LocalForceCalculator(model)
    for _ in range(b["loops"]):
        atoms = frames[int(rng.integers(1, len(frames)))]
        index, normal = int(rng.integers(len(atoms))), rng.normal(size=3)
        for name, calc in (("SNAP", snap_calc), ("DNN", dnn_calc)):
            loops[name].append(loop_work(calc, atoms, index, normal, LOOP_RADIUS_A, b["loop_points"]))
    kt = units.kB * LANGEVIN_K
    with out:
        for label, r in runs.items():
            note = ""
            if "mean_net_force_eV_A" in r:
                note = f"mean |sum F| {r['mean_net_force_eV_A']:.3g} eV/A"
            key = label.lower().replace(",", "").replace(" ", "_")
            if "Langevin" not in label:       # a thermostat exchanges energy with its bath: no drift to measure
                out.add_row(f"{label}: drift of K + U_SNAP", r["drift_meV_atom_per_ps"], "meV/atom/ps", note=note,
                            metric=f"drift_meV_atom_per_ps.{key}")
                out.add_row(f"{label}: largest |K + U_SNAP - E(0)|", r["max_excursion_meV_atom"], "meV/atom",
                            metric=f"max_excursion_meV_atom.{key}")
            out.add_row(f"{label}: temperature, last 10 %", r["temperature_end_K"], "K",
                        note=f"start {r['temperature_start_K']:.0f} K", metric=f"temperature_end_K.{key}")
            out.add_row(f"{label}: total momentum at the end", r["momentum_end"], "amu*A/fs",
                        note=f"centre of mass moved {r['com_displacement_A']:.3g} A",
                        metric=f"momentum_end.{key}")
        for name, w in loops.items():
            w = np.abs(np.asarray(w))
            out.add_row(f"closed-loop work, {name}: mean |W|", float(w.mean() * MEV), "meV",
                        note=f"{len(w)} loops of radius {LOOP_RADIUS_A} A; max {w.max() * MEV:.3g} meV; "
                             f"k_B T at {LANGEVIN_K:g} K = {kt * MEV:.1f} meV; zero for a conservative field",
                        metric=f"loop_work_meV.{name}")
        out.extra.update(model=model_desc, model_trained_on=trained_on, loops_eV={k: list(v) for k, v in loops.items()},
                         runs={k: {kk: vv for kk, vv in v.items() if not isinstance(vv, np.ndarray)}
                               for k, v in runs.items()})
        out.save_figure(drift_figure(runs), "drift")
    return dict(runs=runs, loops=loops, results_dir=out.dir)


if __name__ == "__main__":
    main()
