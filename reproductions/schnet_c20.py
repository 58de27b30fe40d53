"""SchNet drives the fullerene C20: thesis sec. 5.3 (Table 5.6, Figs. 5.4-5.6) with a generated reference.

Data (generated; the thesis' PBE+vdW-TS FHI-aims trajectory cannot be had here): the thesis' protocol (Appendix
A.2, "classical MD at 500K with a step size of 1fs", 29,689 steps, one frame per step) with GFN2-xTB (tblite) as
the reference, ``tfatoms.data.molecular_md``: the I_h dodecahedron displaced by a seeded 0.02 A noise, relaxed with
the reference, then Langevin MD (friction 0.01/fs) at 500 K from 1000 K velocities; cached by its parameters and
resumable. GFN2-xTB is not PBE+vdW-TS: every number here is against GFN2-xTB (``--reference`` names another ASE
reference of ``tfatoms.data.reference``, e.g. ``emt`` for the tests).

Split (the thesis gives none for C20): a seeded permutation of the frames, 24,000 train, 1,000 validation, the
remaining 4,689 test. Consecutive 1 fs frames are correlated, so the test frames have neighbours in the training
set, as in the thesis' random MD17 splits.

Models (Table 5.6): the thesis SchNet (all pairs, Gaussian RBF 0.1 A / gamma 10 up to the largest distance + 1 A,
per-atom scaling and references fitted on the training energies), trained with the loss of thesis eq. 5.7,
``rho ||E - E_hat||^2 + (1/N) sum_i ||F_i + dE_hat/dr_i||^2``, Adam, 32 frames per batch; for rho = 0 (forces
only) the integration constant is fitted afterwards on the training energies (thesis sec. 5.3). The model with the
lowest validation force MAE is the force model (eq. 5.8: "for the following results, we only need accurate
forces"); the one with the lowest validation energy MAE is the energy model (eq. 5.9).

With the force model (float64 copy of its weights):
  * Fig. 5.4: BFGS relaxation to a largest force of 1e-4 kcal/mol/A (the thesis' criterion) from a perturbed cage;
    the reference relaxed from the same start (to 1e-4 eV/A, what its SCF allows). The 30 C-C bonds, their three
    distinct lengths (split at the two largest gaps) next to the thesis' 1.41, 1.45, 1.52 A; the largest
    difference of the sorted bond lengths, model against reference (target 0.01 A).
  * Fig. 5.5: normal modes (``ase.vibrations``, central differences of 0.005 A, each method at its own minimum),
    the 54 vibrational frequencies; the largest relative error (thesis: ~1 %; target 2 %).
  * Fig. 5.6: 300 K classical MD (i-PI, 1 bead) and path-integral MD with 8 beads (i-PI over its socket,
    ``tfatoms.inference.pimd``), PILE-L thermostat, 0.5 fs: distributions of the nearest-neighbour distance, of
    the diameter (each atom's distance to the farthest) and the radial distribution; stability: the largest
    nearest-neighbour distance and the energy of every saved frame.
  * Speed: one SchNet energy+force evaluation against one reference single point, this machine.

Budgets:
  --quick    240 MD steps, 150/30/50 frames, two models (rho 0.01 and 0) of 20 steps, 0.05 ps MD, 0.01 ps PIMD
             (tests: wiring, not accuracy).
  default    the thesis' 29,689 MD steps; Table 5.6's rho sweep (0.1, 0.01, 0.001, 0) at T = 3, F = 64 (the
             thesis sweeps at T = 6, F = 128, about 5x the cost per step, which 2 cores cannot afford here),
             3,000 steps each (cosine decay 1e-3 -> 1e-5; 4 epochs); 10 ps MD and 1 ps PIMD.
  --full     every row of Table 5.6 (T in {3, 6}, F in {64, 128} at rho 0.01; the rho sweep at T = 6, F = 128),
             the thesis' Adam 1e-3 decayed with early stopping up to 500,000 steps each; 10 ps MD, 100 ps PIMD (GPU).

    python reproductions/schnet_c20.py
    python reproductions/schnet_c20.py --quick --reference emt

Training resumes after an interruption (checkpoints under --cache-dir/runs); the MD dataset resumes too.
"""
from __future__ import annotations

import sys

from tfatoms.reproduce.cli import (add_reference_option, budget_name, check_reference, positive,
                                  reproduction_parser, results_name)

THESIS_ROWS = [(3, 64, 0.01), (6, 64, 0.01), (3, 128, 0.01), (6, 128, 0.01), (6, 128, 0.1), (6, 128, 0.001),
               (6, 128, 0.0)]     # Table 5.6 (T, F, rho); the (6, 128, 0.01) row is printed twice there
BUDGETS = {
    "quick": dict(md_steps=240, n_train=150, n_val=30, n_test=50, rows=[(3, 64, 0.01), (3, 64, 0.0)], steps=20,
                  lr=(1e-3, 1e-4), patience=None, md_ps=0.05, pimd_ps=0.01, stride=10),
    "default": dict(md_steps=29_689, n_train=24_000, n_val=1_000, n_test=4_689,
                    rows=[(3, 64, 0.1), (3, 64, 0.01), (3, 64, 0.001), (3, 64, 0.0)], steps=3_000,
                    lr=(1e-3, 1e-5), patience=None, md_ps=10.0, pimd_ps=1.0, stride=20),
    "full": dict(md_steps=29_689, n_train=24_000, n_val=1_000, n_test=4_689, rows=THESIS_ROWS, steps=500_000,
                 lr=None, patience=20, md_ps=10.0, pimd_ps=100.0, stride=20),
}
MD_TEMPERATURE_K, MD_TIMESTEP_FS, PIMD_BEADS = 300.0, 0.5, 8
RELAX_FMAX_MODEL = 1e-4 * 0.0433641      # the thesis' 1e-4 kcal/mol/A in eV/A
RELAX_FMAX_REFERENCE = 1e-4              # eV/A
BOND_CUTOFF = 1.7                        # A: the 30 edges of the cage (next shell at 2.3 A)


def parse_args(argv=None):
    p, _ = reproduction_parser(__doc__, "schnet_c20", "every row of Table 5.6 with the thesis' protocol (GPU)")
    add_reference_option(p, "the MD data, relaxation and modes")
    p.add_argument("--max-steps", type=positive(int), help="override the budget's training steps (each model)")
    p.add_argument("--md-steps", type=positive(int), help="override the budget's reference MD steps")
    p.add_argument("--pimd-ps", type=positive(float), help="override the budget's PIMD length (ps)")
    args = p.parse_args(argv)
    check_reference(p, args)
    return p, args


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before TensorFlow loads

from pathlib import Path  # noqa: E402

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import keras  # noqa: E402
import numpy as np  # noqa: E402
from ase import units  # noqa: E402

from tfatoms.calculators import TfatomsCalculator  # noqa: E402
from tfatoms.data.molecular_md import C20_PROTOCOL, START_NOISE, c20_cage, cached_md_dataset  # noqa: E402
from tfatoms.data.reference import reference_calculator, relax, tight_kwargs  # noqa: E402
from tfatoms.inference.molecular import (bond_lengths, cage_distributions, distinct_lengths,  # noqa: E402
                                         time_calls, vibrational_frequencies)
from tfatoms.inference.pimd import ipi_md  # noqa: E402
from tfatoms.reproduce import ResultsWriter  # noqa: E402
from tfatoms.reproduce.md_runs import (all_pairs_rbf_cutoff, batches, fit_thesis_schnet, model_copy, split,  # noqa: E402
                                      thesis_loss)
from tfatoms.reproduce.references import REFERENCES  # noqa: E402
from tfatoms.train.trainer import BatchTrainer  # noqa: E402

KCAL = units.kcal / units.mol      # eV per kcal/mol


def row_key(T: int, F: int, rho: float) -> str:
    return f"T{T}_F{F}_rho{rho:g}"


def train_row(args, b, budget_key, data, parts, src, rbf_cutoff, T, F, rho):
    """Train one Table 5.6 model; ``dict(model, val, test, result)`` (errors in eV, eV/A)."""
    steps = args.max_steps or b["steps"]
    ckpt = Path(args.cache_dir) / "runs" / (f"schnet_c20_{budget_key}_{args.reference}_seed{args.seed}_"
                                            f"steps{steps}_{row_key(T, F, rho)}")
    print(f"SchNet T={T} F={F} rho={rho:g}: {len(parts['train'])} train / {len(parts['val'])} val frames, "
          f"{steps} steps", flush=True)
    model, trainer, result = fit_thesis_schnet(data, parts, src, ckpt, steps, b["lr"], F, T, rho, rbf_cutoff,
                                               args.seed, patience=b["patience"])
    if rho == 0:        # forces only: the energy is known up to a constant, fitted on the training energies
        pred = trainer.predict(src["train"])["energy"]
        shift = float(np.mean((np.asarray(src["train"].targets) - pred) / np.asarray(src["train"].n_atoms)))
        _, batch, _, _ = next(src["train"].batches())
        model = model_copy(model, batch, per_atom_shift=shift)
        trainer = BatchTrainer(model, loss=thesis_loss(rho), monitor="combined_mae")
    return dict(model=model, val=trainer.errors(src["val"]), test=trainer.errors(src["test"]), result=result,
                T=T, F=F, rho=rho)


def relaxed_pair(model64, reference: str, seed: int):
    """The cage relaxed with the model and with the reference from the same seeded, perturbed start."""
    start = c20_cage()
    start.positions += np.random.default_rng(np.random.SeedSequence([seed, 23])).normal(
        scale=START_NOISE, size=start.positions.shape)
    ours, f_ours, n_ours = relax(start, TfatomsCalculator(model64), RELAX_FMAX_MODEL, steps=2000)
    ref, f_ref, n_ref = relax(start, reference, RELAX_FMAX_REFERENCE, steps=2000,
                              calculator_kwargs=tight_kwargs(reference))      # a converged SCF gradient
    return ours, ref, dict(model_fmax_eV_A=f_ours, model_steps=n_ours, reference_fmax_eV_A=f_ref,
                           reference_steps=n_ref)


def md_runs(model, start, b, seed, progress=True):
    """Classical (1 bead) and PIMD (8 beads) i-PI runs at 300 K with the force model, the same thermostat."""
    out = {}
    for name, beads, ps in (("classical", 1, b["md_ps"]), ("pimd", PIMD_BEADS, b["pimd_ps"])):
        steps = max(2 * b["stride"], int(round(ps * 1000 / MD_TIMESTEP_FS)))
        out[name] = ipi_md(start, TfatomsCalculator(model), temperature=MD_TEMPERATURE_K, steps=steps,
                           timestep_fs=MD_TIMESTEP_FS, beads=beads, seed=seed + beads, stride=b["stride"],
                           progress=progress)
    return out


def figures(out, rows, ours_bonds, ref_bonds, f_ours, f_ref, runs, dists):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(ref_bonds, "o", label="reference relaxed")
    ax[0].plot(ours_bonds, "x", label="SchNet relaxed")
    for v in (1.41, 1.45, 1.52):
        ax[0].axhline(v, color="gray", lw=0.5)
    ax[0].set(xlabel="bond (sorted)", ylabel="length (A)", title="Fig. 5.4: C20 bond lengths (gray: thesis)")
    ax[0].legend()
    ax[1].plot(f_ref, (f_ours - f_ref) / f_ref * 100, "o")
    ax[1].axhline(0, color="k", lw=0.5)
    ax[1].set(xlabel="reference frequency (cm$^{-1}$)", ylabel="SchNet - reference (%)",
              title="Fig. 5.5: normal modes")
    out.save_figure(fig, "fig5_4_5_relaxed_cage_and_modes")

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    for name, label in (("classical", "classical MD"), ("pimd", f"PIMD, {PIMD_BEADS} beads")):
        d = dists[name]
        ax[0].hist(d["nearest"], bins=60, density=True, histtype="step", label=label)
        ax[1].hist(d["diameter"], bins=60, density=True, histtype="step", label=label)
        r = np.linspace(0.5, 5.0, 181)
        h, _ = np.histogram(d["pairs"], bins=r)
        mid = 0.5 * (r[1:] + r[:-1])
        ax[2].plot(mid, h / (4 * np.pi * mid ** 2 * np.diff(r)) / len(runs[name]["positions"]) /
                   runs[name]["beads"], label=label)
    ax[0].set(xlabel="nearest-neighbour distance (A)", ylabel="density")
    ax[1].set(xlabel="diameter (A)")
    ax[2].set(xlabel="r (A)", ylabel="g(r) (unnormalised)")
    ax[0].legend()
    fig.suptitle(f"Fig. 5.6: C20 at {MD_TEMPERATURE_K:g} K with the SchNet force model")
    out.save_figure(fig, "fig5_6_md_pimd")

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        h = r["result"].history
        ax.semilogy([e["step"] for e in h], [e["val_forces_mae"] / KCAL for e in h], "o-",
                    label=f"T={r['T']} F={r['F']} rho={r['rho']:g}")
    ax.set(xlabel="step", ylabel="validation force MAE (kcal/mol/A)", title="Table 5.6 training")
    ax.legend()
    out.save_figure(fig, "training")


def main(argv=None):
    p, args = parse_args(argv)
    budget_key = budget_name(args)
    b = dict(BUDGETS[budget_key])
    if args.pimd_ps:
        b["pimd_ps"] = args.pimd_ps
    keras.utils.set_random_seed(args.seed)
    out = ResultsWriter(results_name("schnet_c20", budget_key), root=args.out, seed=args.seed, budget=budget_key,
                        reference_method=args.reference.upper() if "xtb" in args.reference else args.reference,
                        argv=["reproductions/schnet_c20.py", *(sys.argv[1:] if argv is None else argv)])
    md_steps = args.md_steps or b["md_steps"]
    data = cached_md_dataset(args.cache_dir, "C20", c20_cage(), calculator=args.reference,
                             temperature=C20_PROTOCOL["temperature"], timestep_fs=C20_PROTOCOL["timestep_fs"],
                             steps=md_steps, seed=args.seed)
    n_test = min(b["n_test"], len(data) - b["n_train"] - b["n_val"])
    parts = split(len(data), b["n_train"], b["n_val"], n_test, args.seed)
    src = {k: batches(data, v, what="frame") for k, v in parts.items()}
    rbf_cutoff = all_pairs_rbf_cutoff(data)
    e = data.properties["energy"]
    out.data_source = (f"generated: C20 {args.reference} MD, {C20_PROTOCOL['temperature']:g} K, "
                       f"{C20_PROTOCOL['timestep_fs']:g} fs, {md_steps} steps (tfatoms.data.molecular_md)")
    out.protocol = (f"{len(parts['train'])}/{len(parts['val'])}/{n_test} frames; Table 5.6 rows "
                    + ", ".join(row_key(*r) for r in b["rows"]))
    rows = [train_row(args, b, budget_key, data, parts, src, rbf_cutoff, *r) for r in b["rows"]]
    force_row = min(rows, key=lambda r: r["val"]["forces_mae"])
    energy_row = min(rows, key=lambda r: r["val"]["energy_mae"])
    _, batch, _, _ = next(src["train"].batches())
    model64 = model_copy(force_row["model"], batch, dtype="float64")
    print(f"force model {row_key(force_row['T'], force_row['F'], force_row['rho'])}: relaxation, modes, MD, PIMD",
          flush=True)
    ours, ref, relax_info = relaxed_pair(model64, args.reference, args.seed)
    ours_bonds, ref_bonds = bond_lengths(ours, BOND_CUTOFF), bond_lengths(ref, BOND_CUTOFF)
    cage = len(ours_bonds) == 30 and len(ref_bonds) == 30
    if not cage:
        print(f"warning: a relaxed cage lost its shape: {len(ours_bonds)} (SchNet) and {len(ref_bonds)} "
              f"(reference) bonds shorter than {BOND_CUTOFF} A, not 30; bond lengths are not compared", flush=True)
    f_ours = vibrational_frequencies(ours, TfatomsCalculator(model64))
    f_ref = vibrational_frequencies(ref, reference_calculator(args.reference, **tight_kwargs(args.reference)))
    freq_err = np.abs(f_ours - f_ref) / np.abs(f_ref)
    runs = md_runs(force_row["model"], ours, b, args.seed)
    t_model = time_calls(TfatomsCalculator(force_row["model"]), ours, 50)
    t_ref = time_calls(reference_calculator(args.reference), ref, 10)

    with out:
        for r in rows:
            k = row_key(r["T"], r["F"], r["rho"])
            thesis_k = k if (r["T"], r["F"], r["rho"]) in THESIS_ROWS else row_key(6, 128, r["rho"])
            note = ("thesis Table 5.6" + ("" if thesis_k == k else f" row T=6 F=128 rho={r['rho']:g}")
                    + (", integration constant fitted" if r["rho"] == 0 else "")
                    + f"; {r['result'].steps} steps")
            out.add_row(f"{k}: energy MAE (test)", r["test"]["energy_mae"] / KCAL, "kcal/mol",
                        paper=REFERENCES[f"thesis/schnet_c20/{thesis_k}/energy_mae"].value, note=note,
                        metric=f"energy_mae_kcal_mol.test.{k}")
            out.add_row(f"{k}: force MAE (test)", r["test"]["forces_mae"] / KCAL, "kcal/mol/A",
                        paper=REFERENCES[f"thesis/schnet_c20/{thesis_k}/forces_mae"].value, note=note,
                        metric=f"forces_mae_kcal_mol_A.test.{k}")
        out.add_row("reference energy std over the frames", float(np.std(e)) / KCAL, "kcal/mol",
                    note=f"{args.reference}; a mean predictor's RMSE", metric="energy_std_kcal_mol")
        out.add_row("reference force component std", float(np.std(data.properties["forces"])) / KCAL, "kcal/mol/A",
                    metric="forces_std_kcal_mol_A")
        fk, ek = (row_key(r["T"], r["F"], r["rho"]) for r in (force_row, energy_row))
        out.add_row(f"energy model ({ek}): energy MAE (test)", energy_row["test"]["energy_mae"] / KCAL, "kcal/mol",
                    paper=REFERENCES["thesis/schnet_c20/T6_F128_rho0.1/energy_mae"].value,
                    note="eq. 5.9: lowest validation energy MAE", metric="energy_model_energy_mae_kcal_mol")
        out.add_row(f"force model ({fk}): force MAE (test)", force_row["test"]["forces_mae"] / KCAL, "kcal/mol/A",
                    paper=REFERENCES["thesis/schnet_c20/T6_F128_rho0/forces_mae"].value,
                    note="eq. 5.8: lowest validation force MAE", metric="force_model_forces_mae_kcal_mol_A")
        out.add_row("C-C bonds (< 1.7 A) of the SchNet-relaxed cage", len(ours_bonds), "",
                    note=f"the reference-relaxed cage: {len(ref_bonds)}; the cage has 30", metric="bonds.model")
        if cage:
            for k, (a, r_) in enumerate(zip(distinct_lengths(ours_bonds), distinct_lengths(ref_bonds))):
                out.add_row(f"distinct bond length {k + 1}, SchNet relaxed", a, "A", paper=(1.41, 1.45, 1.52)[k],
                            note=f"reference relaxed: {r_:.4f} A (Fig. 5.4; thesis: DFT agrees)",
                            metric=f"bond_length_{k + 1}_A.model")
                out.metric(f"bond_length_{k + 1}_A.reference", r_)
            out.add_row("largest |bond length difference|, SchNet vs reference",
                        float(np.abs(ours_bonds - ref_bonds).max()), "A",
                        note="sorted 30 bonds, each relaxed from the same start; target 0.01 A",
                        metric="max_bond_length_error_A")
        out.add_row("largest relative frequency error", float(freq_err.max()) * 100, "%",
                    paper=REFERENCES["thesis/schnet_c20/max_frequency_error"].value,
                    note=f"54 modes; at {f_ref[int(np.argmax(freq_err))]:.0f} cm^-1; target 2 %",
                    metric="max_frequency_error_percent")
        out.add_row("mean relative frequency error", float(freq_err.mean()) * 100, "%",
                    metric="mean_frequency_error_percent")
        out.add_row("lowest / highest reference frequency", float(f_ref[0]), "cm^-1",
                    note=f"highest {f_ref[-1]:.0f} cm^-1 (SchNet {f_ours[0]:.0f} / {f_ours[-1]:.0f})",
                    metric="lowest_frequency_cm.reference")
        dists = {name: cage_distributions(run["positions"]) for name, run in runs.items()}
        for name in ("classical", "pimd"):
            run, d = runs[name], dists[name]
            ps = run["step"][-1] * MD_TIMESTEP_FS / 1000
            label = "classical MD" if name == "classical" else f"PIMD ({PIMD_BEADS} beads)"
            out.add_row(f"{label}: nearest-neighbour distance, mean", float(d["nearest"].mean()), "A",
                        note=f"{ps:g} ps at {MD_TEMPERATURE_K:g} K (i-PI), std {d['nearest'].std():.4f} A",
                        metric=f"nearest_mean_A.{name}")
            out.metric(f"nearest_std_A.{name}", float(d["nearest"].std()))
            out.add_row(f"{label}: largest nearest-neighbour distance", float(d["nearest"].max()), "A",
                        note="stability: a broken bond would exceed 2 A", metric=f"nearest_max_A.{name}")
            out.add_row(f"{label}: diameter, mean", float(d["diameter"].mean()), "A",
                        note=f"std {d['diameter'].std():.4f} A", metric=f"diameter_mean_A.{name}")
            out.metric(f"diameter_std_A.{name}", float(d["diameter"].std()))
            out.add_row(f"{label}: mean temperature", float(run["temperature_K"][len(run["temperature_K"]) // 5:].mean()),
                        "K", note="i-PI's estimator, after the first fifth", metric=f"temperature_K.{name}")
            out.metric(f"ps.{name}", ps)
        out.add_row("one SchNet energy+force evaluation", t_model, "s",
                    paper=REFERENCES["thesis/schnet_c20/schnet_seconds"].value,
                    note="this CPU; thesis: GTX1080", metric="seconds.schnet")
        out.add_row(f"one {args.reference} single point", t_ref, "s",
                    paper=REFERENCES["thesis/schnet_c20/dft_seconds"].value,
                    note="thesis: PBE+vdW-TS on 32 cores", metric="seconds.reference")
        out.extra.update(relaxation=relax_info, rbf_cutoff=rbf_cutoff,
                         frequencies_cm=dict(schnet=f_ours.tolist(), reference=f_ref.tolist()),
                         bonds_A=dict(schnet=ours_bonds.tolist(), reference=ref_bonds.tolist()),
                         rows=[dict(T=r["T"], F=r["F"], rho=r["rho"], steps=r["result"].steps,
                                    seconds=r["result"].seconds, val=r["val"], test=r["test"]) for r in rows],
                         md={k: dict(steps=int(v["step"][-1]), beads=v["beads"], calls=v["calls"],
                                     seconds=v["seconds"]) for k, v in runs.items()})
        figures(out, rows, ours_bonds, ref_bonds, f_ours, f_ref, runs, dists)
    bonds = f"{np.abs(ours_bonds - ref_bonds).max():.4f} A" if cage else "not compared (no cage)"
    print(f"force model {fk}: test force MAE {force_row['test']['forces_mae'] / KCAL:.3f} kcal/mol/A; bonds "
          f"{bonds} from the reference; largest frequency error {freq_err.max() * 100:.2f} %")
    return dict(rows=rows, bonds=(ours_bonds, ref_bonds), frequencies=(f_ours, f_ref), runs=runs)


if __name__ == "__main__":
    main()
