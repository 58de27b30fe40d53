"""SchNet drives the fullerene C60: the thesis' C20 protocol (sec. 5.3, Table 5.6, Figs. 5.4-5.5) on real DFT data.

The thesis trains an energy+force SchNet on a C20 MD trajectory, relaxes the cage with it and compares the normal
modes (``reproductions/schnet_c20.py`` does that with a generated GFN2-xTB reference). This is the real-data check
of the same protocol (issue 16): the 366 C60 configurations of ``train_dft1.xyz`` (data-C60_ML, the "DFT-1" set
the NEP MLIP-1 model was trained on: snapshots of tight-binding MD, PBE0+D4 energies ``energy`` in eV and per-atom
forces ``force`` in eV/A, extended XYZ in a 25 A box; read as a molecule, all pairs). ``--data`` names the file;
the package does not ship it.

Split: a seeded permutation of the 366 frames, 300 train / 20 validation / 46 test. Model: the thesis SchNet F = 64,
T = 3 (all pairs, Gaussian RBF 0.1 A / gamma 10 up to the largest distance + 1 A, per-atom scaling and references
fitted on the training energies), loss thesis eq. 5.7 with rho = 0.01, Adam, 32 frames per batch, the epoch with
the lowest validation ``combined_mae`` kept. Test errors (energy MAE/RMSE in kcal/mol and meV/atom, force-component
MAE/RMSE in kcal/mol/A) beside the reference's own spread (energy std over the frames, force-component std) and the
mean predictor (the training mean energy and force component for every test frame).

With a float64 copy of the model:
  * Fig. 5.4 analogue: BFGS relaxation to a largest force of 1e-4 kcal/mol/A (the thesis' criterion) from the
    lowest-energy frame of the data set displaced by a seeded 0.02 A noise; the C-C bonds (< 1.7 A; C60 has 90),
    their two distinct lengths (split at the largest gap: the 30 6:6 and the 60 5:6 bonds) and the diameter against
    gas-phase electron diffraction (Hedberg et al., Science 254, 410 (1991): r_g at 730 C, so about 0.005 A longer
    than an equilibrium r_e; the model learns PBE0+D4, not experiment).
  * Fig. 5.5 analogue: harmonic frequencies from the model's Hessian (``ase.vibrations``, central differences of
    0.005 A), the 174 vibrations; the lowest and highest, and for each of the four IR-active T1u lines of solid C60
    (527, 577, 1183, 1429 cm^-1) the model's mode closest to it in frequency (no symmetry analysis: an assignment by
    position only). Harmonic PBE0 frequencies are expected a few per cent above the measured fundamentals.
  * Speed: one SchNet energy+force call (float32, this machine).
  * Figure: force parity on the test set and the model's stick spectrum with the experimental IR lines.

Budgets:
  --quick    60 / 10 / 20 frames, 20 steps (cosine 1e-3 -> 1e-4): every row, for the tests (wiring, not
             accuracy); measured 2 min on 2 shared cores (training 70 s, relaxation, Hessian and timing ~50 s).
  default    300 / 20 / 46 frames, 3,000 steps (cosine 1e-3 -> 1e-5; 300 epochs of 10 steps): every row. An
             estimate, not a measured run: 2.8 s per step of 32 frames with its epoch's validation on 2 shared
             cores (measured: the default split for 20 steps, 28 s per epoch), so about 2.3 h of training plus
             ~1 min of relaxation and modes. ``--max-steps`` shortens it (the cosine decay follows).
  --full     300 / 20 / 46 frames, the thesis' schedule (Adam 1e-3, decayed by 0.96 every 100k steps) with early
             stopping (patience 1,000 epochs = 10,000 steps) up to 500,000 steps: the same rows (GPU-sized).

    python reproductions/schnet_c60.py --data ../shared/data/c60_dft/train_dft1.xyz
    python reproductions/schnet_c60.py --data ../shared/data/c60_dft/train_dft1.xyz --quick

Training resumes after an interruption (checkpoints under --cache-dir/runs); a finished run is loaded, not retrained.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from tfatoms.reproduce.cli import budget_name, positive, reproduction_parser, results_name

BUDGETS = {
    "quick": dict(n_train=60, n_val=10, n_test=20, steps=20, lr=(1e-3, 1e-4), patience=None),
    "default": dict(n_train=300, n_val=20, n_test=46, steps=3_000, lr=(1e-3, 1e-5), patience=None),
    "full": dict(n_train=300, n_val=20, n_test=46, steps=500_000, lr=None, patience=1_000),
}
F, T, RHO = 64, 3, 0.01                  # Table 5.6's first row; rho of eq. 5.7
N_ATOMS, N_BONDS = 60, 90                # C60: 90 C-C bonds, 30 of them 6:6 and 60 5:6
RELAX_FMAX = 1e-4 * 0.0433641            # the thesis' 1e-4 kcal/mol/A in eV/A
RELAX_STEPS = 3000
BOND_CUTOFF = 1.7                        # A: the bonds of the cage (next neighbours at 2.4 A)
IR_KEYS = [f"experiment/c60/ir_t1u_{k}" for k in (1, 2, 3, 4)]


def parse_args(argv=None):
    p, _ = reproduction_parser(__doc__, "schnet_c60", "the thesis' schedule with early stopping, up to 500,000 "
                                                      "steps (GPU)")
    p.add_argument("--data", help="the C60 DFT extended XYZ (energy in eV, per-atom force in eV/A), e.g. "
                                   "../shared/data/c60_dft/train_dft1.xyz")
    p.add_argument("--max-steps", type=positive(int), help="override the budget's training steps")
    args = p.parse_args(argv)
    if not args.data:
        p.error("--data is required: the C60 DFT extended XYZ file (e.g. ../shared/data/c60_dft/train_dft1.xyz)")
    if not Path(args.data).is_file():
        p.error(f"--data {args.data}: no such file")
    if not os.access(args.data, os.R_OK):
        p.error(f"--data {args.data}: not readable")
    return p, args


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before TensorFlow loads

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import keras  # noqa: E402
import numpy as np  # noqa: E402
from ase import units  # noqa: E402

from tfatoms.calculators import TfatomsCalculator  # noqa: E402
from tfatoms.data.atoms import AtomsData  # noqa: E402
from tfatoms.data.molecular_md import START_NOISE  # noqa: E402
from tfatoms.data.reference import relax  # noqa: E402
from tfatoms.inference.molecular import (bond_lengths, cage_distributions, closest_modes,  # noqa: E402
                                         length_groups, normal_modes, time_calls)
from tfatoms.reproduce import ResultsWriter  # noqa: E402
from tfatoms.reproduce.md_runs import (all_pairs_rbf_cutoff, batches, fit_thesis_schnet,  # noqa: E402
                                      mean_predictor, model_copy, split)
from tfatoms.reproduce.references import REFERENCES  # noqa: E402

KCAL = units.kcal / units.mol      # eV per kcal/mol
MEV = 1000.0


def read_c60(p, path: str) -> AtomsData:
    """The frames of ``path`` with energies (eV) and forces (eV/A; the file's ``force``); anything else than C60
    frames with both is a usage error naming the file (exit 2)."""
    try:
        data = AtomsData.read(path).require("energy", "forces")
    except Exception as exc:  # noqa: BLE001  (name the file whatever the reader raised)
        p.error(f"--data {path}: {exc}")
    if data.units.get("energy", "eV") != "eV" or data.units.get("forces", "eV/A") != "eV/A":
        data = data.to_units({"energy": "eV", "forces": "eV/A"})
    for k in range(len(data)):
        z = data.numbers[data.atom_slice(k)]
        if len(z) != N_ATOMS or (z != 6).any():
            p.error(f"--data {path}: structure {k} is not C60 ({len(z)} atoms, elements {sorted(set(z.tolist()))})")
    bad = ~np.isfinite(data.properties["forces"]).all(axis=1) | ~np.isfinite(np.repeat(data.properties["energy"],
                                                                                       np.diff(data.ptr)))
    if bad.any():
        p.error(f"--data {path}: non-finite energies or forces ({int(bad.sum())} atoms)")
    return data


def relaxed_c60(model64, data: AtomsData, seed: int):
    """The cage relaxed with the model from the data set's lowest-energy frame, displaced by a seeded noise."""
    k = int(np.argmin(data.properties["energy"]))
    start = data[k]
    start.calc = None
    start.set_pbc(False)                 # a molecule in a 25 A box: the model sees all pairs, no images
    start.set_cell(np.zeros((3, 3)))
    start.positions += np.random.default_rng(np.random.SeedSequence([seed, 60])).normal(
        scale=START_NOISE, size=start.positions.shape)
    relaxed, fmax, steps = relax(start, TfatomsCalculator(model64), RELAX_FMAX, steps=RELAX_STEPS)
    return relaxed, dict(start_frame=k, noise_A=START_NOISE, fmax_eV_A=fmax, steps=steps)


def figures(out, f_pred, f_ref, freqs, lines, matched):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    x, y = f_ref.ravel() / KCAL, f_pred.ravel() / KCAL
    lim = [min(x.min(), y.min()), max(x.max(), y.max())]
    ax[0].plot(x, y, ".", ms=2, alpha=0.5)
    ax[0].plot(lim, lim, "k-", lw=0.5)
    ax[0].set(xlabel="PBE0+D4 force component (kcal/mol/A)", ylabel="SchNet (kcal/mol/A)",
              title=f"test forces ({len(f_ref) // N_ATOMS} frames)")
    ax[1].vlines(freqs, 0, 1, color="C0", lw=1, label="SchNet harmonic modes")
    for k, (v, m) in enumerate(zip(lines, matched)):
        ax[1].axvline(v, color="C3", ls="--", lw=1, label="IR T1u, experiment" if k == 0 else None)
        ax[1].plot(freqs[m], 1.05, "v", color="C3")
    ax[1].set(xlabel="frequency (cm$^{-1}$)", yticks=[], ylim=(0, 1.45),
              title="C60 normal modes of the SchNet-relaxed cage (v: closest mode)")
    ax[1].legend(loc="upper center", ncol=2, fontsize=8)
    out.save_figure(fig, "forces_parity_and_modes")


def main(argv=None):
    p, args = parse_args(argv)
    data = read_c60(p, args.data)
    budget_key = budget_name(args)
    b = BUDGETS[budget_key]
    steps = args.max_steps or b["steps"]
    keras.utils.set_random_seed(args.seed)
    out = ResultsWriter(results_name("schnet_c60", budget_key), root=args.out, seed=args.seed, budget=budget_key,
                        reference_method="PBE0+D4 (data-C60_ML DFT-1)",
                        argv=["reproductions/schnet_c60.py", *(sys.argv[1:] if argv is None else argv)])
    parts = split(len(data), b["n_train"], b["n_val"], b["n_test"], args.seed)
    src = {k: batches(data, v) for k, v in parts.items()}
    rbf_cutoff = all_pairs_rbf_cutoff(data)
    ckpt = Path(args.cache_dir) / "runs" / f"schnet_c60_{budget_key}_seed{args.seed}_steps{steps}"
    print(f"SchNet F={F} T={T} rho={RHO}: {b['n_train']} train / {b['n_val']} val / {b['n_test']} test frames of "
          f"{args.data}; {steps} steps", flush=True)
    model, trainer, result = fit_thesis_schnet(data, parts, src, ckpt, steps, b["lr"], F, T, RHO, rbf_cutoff,
                                               args.seed, patience=b["patience"])
    test = trainer.errors(src["test"])
    pred = trainer.predict(src["test"])
    mean = mean_predictor(data, parts["train"], parts["test"])

    _, batch, _, _ = next(src["train"].batches())
    model64 = model_copy(model, batch, dtype="float64")
    print("float64 copy: relaxation, normal modes", flush=True)
    relaxed, relax_info = relaxed_c60(model64, data, args.seed)
    bonds = bond_lengths(relaxed, BOND_CUTOFF)
    cage = len(bonds) == N_BONDS
    if not cage:
        print(f"warning: the relaxed cage lost its shape: {len(bonds)} bonds shorter than {BOND_CUTOFF} A, not "
              f"{N_BONDS}; bond lengths are not compared", flush=True)
    modes = normal_modes(relaxed, TfatomsCalculator(model64))
    freqs = modes[6:]                    # vibrational_frequencies: the 3N - 6 = 174 vibrations
    lines = np.array([REFERENCES[k].value for k in IR_KEYS])
    matched = closest_modes(freqs, lines)
    t_model = time_calls(TfatomsCalculator(model), relaxed, 20)

    e = data.properties["energy"]
    out.data_source = f"C60 DFT-1 set ({args.data}): {len(data)} tight-binding MD frames, PBE0+D4 energies and forces"
    out.protocol = (f"{b['n_train']}/{b['n_val']}/{b['n_test']} frames, SchNet F={F} T={T} rho={RHO}, "
                    f"{result.steps} steps, stopped: {result.stopped}")
    c20 = "thesis Table 5.6, C20 T=3 F=64 rho=0.01: {:g} (another molecule and data)"
    with out:
        out.add_row("energy MAE (test)", test["energy_mae"] / KCAL, "kcal/mol",
                    note=c20.format(REFERENCES["thesis/schnet_c20/T3_F64_rho0.01/energy_mae"].value),
                    metric="energy_mae_kcal_mol.test")
        out.add_row("energy RMSE (test)", test["energy_rmse"] / KCAL, "kcal/mol", metric="energy_rmse_kcal_mol.test")
        out.add_row("energy MAE per atom (test)", test["energy_mae_per_atom"] * MEV, "meV/atom",
                    metric="energy_mae_meV_atom.test")
        out.add_row("energy RMSE per atom (test)", test["energy_rmse_per_atom"] * MEV, "meV/atom",
                    metric="energy_rmse_meV_atom.test")
        out.add_row("force component MAE (test)", test["forces_mae"] / KCAL, "kcal/mol/A",
                    note=c20.format(REFERENCES["thesis/schnet_c20/T3_F64_rho0.01/forces_mae"].value),
                    metric="forces_mae_kcal_mol_A.test")
        out.add_row("force component RMSE (test)", test["forces_rmse"] / KCAL, "kcal/mol/A",
                    metric="forces_rmse_kcal_mol_A.test")
        for q, unit in (("energy_mae", "kcal/mol"), ("energy_rmse", "kcal/mol"), ("forces_mae", "kcal/mol/A"),
                        ("forces_rmse", "kcal/mol/A")):
            out.add_row(f"mean predictor: {q.replace('_', ' ').replace('forces', 'force')} (test)", mean[q] / KCAL,
                        unit, note="training mean energy / force component for every test frame",
                        metric=f"{q}_{unit.replace('/', '_')}.mean_predictor")
        out.add_row("reference energy std over the frames", float(np.std(e)) / KCAL, "kcal/mol",
                    note=f"all {len(data)} frames; {np.std(e) / N_ATOMS * MEV:.2f} meV/atom",
                    metric="energy_std_kcal_mol")
        out.metric("energy_std_meV_atom", float(np.std(e)) / N_ATOMS * MEV)
        out.add_row("reference force component std", float(np.std(data.properties["forces"])) / KCAL, "kcal/mol/A",
                    metric="forces_std_kcal_mol_A")
        out.add_row("relaxation: largest force reached", relax_info["fmax_eV_A"] / KCAL, "kcal/mol/A",
                    note=f"BFGS, {relax_info['steps']} steps from frame {relax_info['start_frame']} + "
                         f"{START_NOISE:g} A noise; target 1e-4 (thesis)", metric="relax_fmax_kcal_mol_A")
        out.add_row(f"C-C bonds (< {BOND_CUTOFF:g} A) of the SchNet-relaxed cage", len(bonds), "",
                    note=f"C60 has {N_BONDS}", metric="bonds.model")
        if cage:
            groups = length_groups(bonds, n=2)
            (b66, b56), sizes = [g.mean() for g in groups], [len(g) for g in groups]
            out.add_row("6:6 bond length (shorter group), SchNet relaxed", b66, "A",
                        paper=REFERENCES["experiment/c60/bond_66"],
                        note=f"{sizes[0]} bonds (C60: 30), spread {np.ptp(groups[0]):.4f} A; experiment r_g at "
                             f"730 C, 1.401(10)", metric="bond_66_A")
            out.add_row("5:6 bond length (longer group), SchNet relaxed", b56, "A",
                        paper=REFERENCES["experiment/c60/bond_56"],
                        note=f"{sizes[1]} bonds (C60: 60), spread {np.ptp(groups[1]):.4f} A; experiment r_g, "
                             f"1.458(6)", metric="bond_56_A")
            out.metric("bonds_66.model", sizes[0])
            out.metric("bonds_56.model", sizes[1])
        out.add_row("cage diameter, SchNet relaxed", float(cage_distributions(relaxed.positions[None])["diameter"]
                                                           .max()), "A",
                    paper=REFERENCES["experiment/c60/diameter"], note="largest distance between two atoms",
                    metric="diameter_A")
        out.add_row("lowest harmonic frequency", float(freqs[0]), "cm^-1",
                    note=f"{int((freqs < 0).sum())} of {len(freqs)} imaginary (as negative numbers); the 6 rigid-body "
                         f"modes up to {np.abs(modes[:6]).max():.2f} cm^-1", metric="lowest_frequency_cm")
        out.metric("imaginary_modes", int((freqs < 0).sum()))
        out.metric("rigid_body_max_cm", float(np.abs(modes[:6]).max()))
        out.add_row("highest harmonic frequency", float(freqs[-1]), "cm^-1", metric="highest_frequency_cm")
        for k, (key, m) in enumerate(zip(IR_KEYS, matched)):
            out.add_row(f"IR T1u({k + 1}): the closest SchNet mode", float(freqs[m]), "cm^-1", paper=REFERENCES[key],
                        note=f"vibration {m + 1} of {len(freqs)}, the closest in frequency (no symmetry analysis); "
                             f"harmonic PBE0-trained model vs measured fundamental in the solid",
                        metric=f"ir_t1u_{k + 1}_cm")
        out.add_row("one SchNet energy+force call", t_model, "s", note="float32, this CPU; thesis: 0.010 s for C20 "
                    "on a GTX1080", metric="seconds.schnet")
        out.extra.update(training=dict(steps=result.steps, epochs=result.epochs, best_epoch=result.best_epoch,
                                       stopped=result.stopped, seconds=result.seconds),
                         rbf_cutoff=rbf_cutoff, test_errors=test, mean_predictor=mean, relaxation=relax_info,
                         split={k: [int(i) for i in v] for k, v in parts.items()}, bonds_A=bonds.tolist(),
                         frequencies_cm=freqs.tolist(), rigid_body_cm=modes[:6].tolist(),
                         ir_matched=[dict(line_cm=float(v), mode=int(m) + 7, model_cm=float(freqs[m]))
                                     for v, m in zip(lines, matched)],
                         relaxed_positions_A=relaxed.positions.tolist())
        figures(out, pred["forces"], np.asarray(src["test"].forces), freqs, lines, matched)
    print(out.markdown())
    print(f"test force MAE {test['forces_mae'] / KCAL:.3f} kcal/mol/A (mean predictor {mean['forces_mae'] / KCAL:.3f});"
          f" relaxed cage: {len(bonds)} bonds; IR T1u closest modes "
          + ", ".join(f"{freqs[m]:.0f}" for m in matched) + " cm^-1")
    return dict(test=test, mean=mean, bonds=bonds, frequencies=freqs, relaxed=relaxed, result=result)


if __name__ == "__main__":
    main()
