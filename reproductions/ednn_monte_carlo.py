"""Metropolis Monte Carlo of pristine graphene with EDNN energies against reference MD: EDNN paper sec. 3.3, Fig. 13.

The paper ran Metropolis Monte Carlo of the 60-atom pristine graphene cell (12.5 x 13 A) at 1000 K with the trained
EDNN as the energy and compared its radial distribution function with DFT MD at 1000 K: "the peaks in exact
agreement"; 0.39 s per EDNN energy evaluation against 9.9 s per DFT MD step.

Here: the hexagonal-sheet EDNN shipped with the package (``load_ednn("ednn_hexagonal")``, trained by
``reproductions/ednn_hexagonal.py`` on GFN1-xTB energies) drives single-atom Metropolis moves in the plane (uniform in
a square of side 2 ``max_step``) through :class:`tfatoms.inference.monte_carlo.LocalTileEnergy`, which re-evaluates
only the tiles a move touches. The reference is the GFN1-xTB MD of the same cell at 1000 K from the dataset of
``tfatoms.data.hexagonal`` (the ``graphene_pristine`` frames of every run, the first 10 % of the first run left
out as warm-up). Both g(r) are computed by ``ase.geometry.rdf.get_rdf`` on the same bins (3-D shell normalisation,
the cell with its 10 A of vacuum, identical for both), peaks located by ``scipy.signal.find_peaks`` on the MD curve
and refined by a parabola through the three highest bins of each curve near it.

Reported: the first three peak positions of both (MC - MD, target within 0.05 A), the acceptance rate, seconds per
Monte Carlo energy evaluation (local update) and per full 16-tile evaluation next to the paper's 0.39 s, seconds per
GFN1-xTB single point (an MD step) next to the paper's 9.9 s for DFT, and the cached energy against a full
re-evaluation after the chain (float32 round-off).

Budgets:
  --quick   2 + 3 sweeps (300 moves), the quick dataset's frames (tests).
  default   20 equilibration sweeps + 300 recorded sweeps (19,200 moves; a few minutes on 2 cores).
  --full    100 + 3,000 sweeps.
  --precision mixed_bfloat16: the tile network's convolutions in bfloat16 (CPUs with AVX512_BF16 or AMX run them
            faster); the cache and the full re-evaluation use the same network, so they still agree.

    python reproductions/ednn_monte_carlo.py [--quick | --full] [--model ednn_hexagonal] [--max-step 0.1]
"""
from __future__ import annotations

import sys
import time

from tfatoms.reproduce.cli import (add_hexagonal_data_arguments, budget_name, positive, reproduction_parser,
                                  results_name)

SCRIPT = "ednn_monte_carlo"
TEMPERATURE_K = 1000.0
BUDGETS = {
    "quick": dict(data="quick", equilibrate=2, sweeps=3),
    "default": dict(data="default", equilibrate=20, sweeps=300),
    "full": dict(data="default", equilibrate=100, sweeps=3000),
}
RMAX, NBINS = 4.5, 225            # 0.02 A bins
PEAKS = 3


def parse_args(argv=None):
    p, _ = reproduction_parser(__doc__, SCRIPT, "3,000 recorded sweeps")
    p.add_argument("--model", default="ednn_hexagonal", help="a pretrained EDNN name (tfatoms.pretrained)")
    p.add_argument("--pretrained-dir", help="directory of the pretrained model (default: the package's)")
    p.add_argument("--max-step", type=positive(float), default=0.1, help="largest trial move per axis, A")
    add_hexagonal_data_arguments(p, training=False)
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32",
                   help="tile network precision (mixed_bfloat16: bfloat16 convolutions, float32 head; results go "
                        "to <name>_bf16/)")
    return p.parse_args(argv)


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before TensorFlow loads

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfatoms.data.hexagonal import hexagonal_sheet  # noqa: E402
from tfatoms.reproduce.hexagonal_runs import budget_frames  # noqa: E402
from tfatoms.data.reference import label  # noqa: E402
from tfatoms.inference.monte_carlo import LocalTileEnergy, metropolis  # noqa: E402
from tfatoms.pretrained import PRETRAINED_DIR, load_ednn  # noqa: E402
from tfatoms.reproduce import ResultsWriter  # noqa: E402


def rdf(frames_xy, numbers, cell3):
    """Mean ``ase.geometry.rdf.get_rdf`` over frames of in-plane positions (z = 0): ``(g, r)``."""
    from ase import Atoms
    from ase.geometry.rdf import get_rdf

    g = np.zeros(NBINS)
    r = None
    for xy in frames_xy:
        atoms = Atoms(numbers=numbers, positions=np.column_stack([xy, np.zeros(len(xy))]), cell=cell3, pbc=True)
        gi, r = get_rdf(atoms, RMAX, NBINS)
        g += gi
    return g / len(frames_xy), r


def refine_peak(r, g, centre, half_width=0.15) -> float:
    """Position of the maximum of ``g`` within ``centre +- half_width``, refined by a parabola through 3 bins."""
    sel = np.flatnonzero(np.abs(r - centre) <= half_width)
    k = sel[np.argmax(g[sel])]
    if 0 < k < len(g) - 1:
        a, b, c = g[k - 1], g[k], g[k + 1]
        denom = a - 2 * b + c
        if denom < 0:
            return float(r[k] + 0.5 * (a - c) / denom * (r[1] - r[0]))
    return float(r[k])


def md_peaks(r, g):
    """The first :data:`PEAKS` peaks of the reference g(r) (``scipy.signal.find_peaks``, prominent ones)."""
    from scipy.signal import find_peaks

    idx, _ = find_peaks(g, prominence=0.05 * g.max())
    return [refine_peak(r, g, r[i]) for i in idx[:PEAKS]]


def main(argv=None):
    args = parse_args(argv)
    budget_key = budget_name(args)
    b = BUDGETS[budget_key]
    if args.precision != "float32":
        import keras

        keras.mixed_precision.set_global_policy(args.precision)
    model, meta = load_ednn(args.model, args.pretrained_dir or PRETRAINED_DIR)
    data = budget_frames(args, b["data"], seed=0, progress=not args.quick)
    names = list(data.metadata["structures"])
    s = names.index("graphene_pristine")
    p = data.properties
    n_steps = int(data.metadata["params"]["steps_per_run"])
    keep = np.flatnonzero((p["structure"] == s) & ~((p["run"] == 0) & (p["md_step"] <= 0.1 * n_steps)))
    md_frames = [data[int(k)].positions[:, :2] for k in keep]
    ref_atoms = data[int(keep[0])]
    cell3 = ref_atoms.cell[:]
    numbers = ref_atoms.numbers

    sheet = hexagonal_sheet("graphene")
    cell2 = np.diag(sheet.cell[:])[:2]
    pixels = tuple(int(v) for v in meta.get("pixels", (256, 256)))
    energy = LocalTileEnergy(model, sheet.positions, sheet.numbers, cell2, pixels, gamma=meta["gamma"])
    t0 = time.perf_counter()
    full_reps = 5
    for _ in range(full_reps):
        energy.full_energy()
    t_full = (time.perf_counter() - t0) / full_reps
    n = len(sheet)
    equil = metropolis(energy, TEMPERATURE_K, b["equilibrate"] * n, max_step=args.max_step, seed=args.seed,
                       progress=not args.quick)
    tiles_before = energy.n_tile_evaluations
    run = metropolis(energy, TEMPERATURE_K, b["sweeps"] * n, max_step=args.max_step, seed=args.seed + 1,
                     record_every=n, progress=not args.quick)
    tiles_per_move = (energy.n_tile_evaluations - tiles_before) / (b["sweeps"] * n)
    cached, full = energy.energy, energy.full_energy()

    t0 = time.perf_counter()
    n_ref = 3
    label([data[int(k)] for k in keep[:n_ref]], "gfn1-xtb", properties=("energy", "forces"), progress=False)
    t_xtb = (time.perf_counter() - t0) / n_ref

    g_md, r = rdf(md_frames, numbers, cell3)
    g_mc, _ = rdf(run["frames"], sheet.numbers, sheet.cell[:])
    peaks_md = md_peaks(r, g_md)
    peaks_mc = [refine_peak(r, g_mc, c) for c in peaks_md]

    out = ResultsWriter(results_name(SCRIPT, budget_key, "" if args.precision == "float32" else "bf16"), root=args.out, seed=args.seed, budget=budget_key,
                        protocol=(f"Metropolis single-atom moves (max step {args.max_step} A per axis) at "
                                  f"{TEMPERATURE_K:g} K, {b['equilibrate']} + {b['sweeps']} sweeps of {n} moves, "
                                  f"a frame per sweep; EDNN {args.model!r}, {args.precision}"),
                        argv=[f"reproductions/{SCRIPT}.py", *(sys.argv[1:] if argv is None else argv)],
                        data_source=(f"reference MD: {len(md_frames)} GFN1-xTB 1000 K frames of pristine graphene "
                                     f"(tfatoms.data.hexagonal, data budget {b['data']!r}); EDNN trained on "
                                     f"{meta.get('trained_on', '?')}"),
                        reference_method="GFN1-xTB (tblite)")
    for k, (a, c) in enumerate(zip(peaks_mc, peaks_md), start=1):
        out.add_row(f"g(r) peak {k}: Monte Carlo (EDNN) - MD (xTB)", a - c, "A", metric=f"peak{k}.mc_minus_md_A",
                    note=f"MC {a:.3f} A, MD {c:.3f} A; target |difference| <= 0.05 A")
        out.metric(f"peak{k}.mc_A", a)
        out.metric(f"peak{k}.md_A", c)
    out.add_row("largest |peak shift| of the first three", max(abs(a - c) for a, c in zip(peaks_mc, peaks_md)), "A",
                metric="peaks.max_abs_shift_A")
    out.add_row("acceptance rate", run["acceptance"], "", metric="acceptance")
    out.add_row("seconds per Monte Carlo energy evaluation (local tile update)", run["seconds_per_move"], "s",
                paper="ednn/hexagonal/mc_seconds_per_energy", metric="seconds_per_move",
                note=f"{tiles_per_move:.1f} of 16 tiles per move on average; 2 cores")
    out.add_row("seconds per full EDNN evaluation (16 tiles, fresh image)", t_full, "s", metric="seconds_full_energy")
    out.add_row("seconds per GFN1-xTB single point (one MD step), 60 atoms, 1 thread", t_xtb, "s",
                paper="ednn/hexagonal/dft_md_seconds_per_step", metric="xtb_seconds_per_step",
                note="the paper's reference is DFT (VASP PBE)")
    out.add_row("|cached - fully re-evaluated energy| after the chain", abs(cached - full), "eV",
                metric="cache_vs_full_eV", note=f"energy {full:.4f} eV")
    out.extra["rdf"] = dict(r=r.tolist(), g_md=g_md.tolist(), g_mc=g_mc.tolist())
    out.extra["mc_energies_eV"] = run["energies"].tolist()
    out.extra["equilibration_acceptance"] = equil["acceptance"]

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(r, g_mc, "k-", label=f"Monte Carlo, EDNN ({b['sweeps']} sweeps)")
    ax.plot(r, g_md, color="tab:orange", label=f"MD, GFN1-xTB ({len(md_frames)} frames)")
    for c in peaks_md:
        ax.axvline(c, color="0.7", lw=0.5)
    ax.set(xlabel="r (A)", ylabel="g(r)", title=f"Fig. 13: pristine graphene at {TEMPERATURE_K:g} K")
    ax.legend()
    out.save_figure(fig, "fig13_rdf")
    out.finish()
    return out


if __name__ == "__main__":
    main()
