"""SchNet on the eight MD17 molecules, trained on energies only and on energies and forces: thesis Tables 5.3 / 5.4.

The thesis (sec. 5.2.2) trains SchNet (F = 64, T = 3, all pairs) on each MD17 trajectory (benzene, toluene,
malonaldehyde, salicylic acid, aspirin, ethanol, uracil, naphthalene) once on energies only and once with the
combined loss of eq. 5.7 (rho = 0.01), N = 1,000 and 50,000 random training configurations, and reports test MAEs
of the total energy (Table 5.3, kcal/mol) and of the force components (Table 5.4, kcal/mol/A): forces in training
cut the energy error by about 10x and the force error by 10-100x.

Data: the original MD17 (PBE+vdW-TS, FHI-aims) cannot be downloaded here, so each molecule's trajectory is
generated with the MD17 protocol (500 K, 0.5 fs) by :mod:`tfatoms.data.md17`: the start from QM9 where the molecule
is in it (benzene, toluene, ethanol, uracil), otherwise from RDKit; relaxed, then Langevin MD with ``--reference``
(default GFN2-xTB through tblite; 2-20 ms per step on one core). The thesis' numbers are on another reference
method and trajectory: they are the pattern to compare with, not the same data.

Budgets (per molecule):
  --quick    400 MD steps, a frame every 4th: 50 / 10 / 40 split, 20 training steps per model (wiring only).
  default    20,000 MD steps (10 ps), a frame every 10th (2,000 frames): N = 1,000 training, 50 validation, 950
             test; 1,000 training steps per model (32 epochs; the 16 models in about an hour on 2 cores), cosine
             1e-3 -> 1e-5, best validation epoch kept. --max-steps trains longer.
  --full     the thesis' N = 50,000: 120,000 MD steps with a frame every 2nd (60,000 frames), 50,000 / 1,000 /
             9,000, the thesis' schedule up to 3M steps (GPU-sized).

    python reproductions/schnet_md17_molecules.py
    python reproductions/schnet_md17_molecules.py --molecules ethanol,aspirin --max-steps 5000
    python reproductions/schnet_md17_molecules.py --molecules malonaldehyde,ethanol --gdml     # + GDML (sgdml)

Writes ``results/schnet_md17_molecules[_quick|_full]/``: energy and force MAE and RMSE per molecule and training
mode beside Tables 5.3/5.4 (N = 1,000 columns for the default budget, N = 50,000 for --full), and per molecule the
ratio of the energy-only to the energy+force force MAE. Data and training resume after a kill (--cache-dir).
"""
from __future__ import annotations

import sys

from tfatoms.reproduce.cli import (add_molecules_option, add_reference_option, add_start_option, budget_name,
                                  check_molecules, check_reference, positive, reproduction_parser, results_name,
                                  start_qm9)

BUDGETS = {
    "quick": dict(md_steps=400, interval=4, n_train=50, n_val=10, n_test=40, steps=20, lr=(1e-3, 1e-4)),
    "default": dict(md_steps=20_000, interval=10, n_train=1_000, n_val=50, n_test=950, steps=1_000,
                    lr=(1e-3, 1e-5)),
    "full": dict(md_steps=120_000, interval=2, n_train=50_000, n_val=1_000, n_test=9_000, steps=3_000_000,
                 lr=None),
}
RHO = 0.01              # thesis eq. 5.7, MD17
F, T = 64, 3            # thesis Tables 5.3/5.4: SchNet T = 3
MODES = {"energy": None, "energy_forces": RHO}          # training mode: rho (None: energies only)


def parse_args(argv=None):
    from tfatoms.data.md17 import MD17_SMILES

    p, _ = reproduction_parser(__doc__, "schnet_md17_molecules", "the thesis' N = 50,000 (GPU-sized)")
    add_molecules_option(p, MD17_SMILES, "default all eight")
    add_reference_option(p, "the MD")
    add_start_option(p)
    p.add_argument("--max-steps", type=positive(int), help="training steps per model (overrides the budget's)")
    p.add_argument("--gdml", action="store_true",
                   help="also train GDML (sgdml, Tables 5.3/5.4's baseline column) on the same training frames; its "
                        "kernel matrix takes (3 x atoms x N)^2 x 8 bytes, 5.8 GB for ethanol at N = 1,000, and about "
                        "2.5 min per sigma there on 2 cores")
    p.add_argument("--gdml-sigmas", type=positive(int), nargs="+",
                   help="GDML kernel length scales to choose from on validation (default sgdml's 10, 20, ..., 90)")
    p.add_argument("--gdml-max-memory", type=positive(int), metavar="GB",
                   help="memory sgdml may use before it switches to its iterative solver (default: all)")
    args = p.parse_args(argv)
    check_molecules(p, args)
    check_reference(p, args)
    if args.gdml:
        import importlib.util

        if importlib.util.find_spec("sgdml") is None:
            p.error("--gdml needs sgdml: pip install sgdml (or the package's [gdml] extra)")
    return p, args


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before TensorFlow loads

from pathlib import Path  # noqa: E402

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import keras  # noqa: E402
import numpy as np  # noqa: E402
from ase import units  # noqa: E402

from tfatoms.data.md17 import md17_dataset  # noqa: E402
from tfatoms.reproduce import ResultsWriter  # noqa: E402
from tfatoms.reproduce.md_runs import batches, fit_thesis_schnet, split  # noqa: E402
from tfatoms.reproduce.references import REFERENCES  # noqa: E402

KCAL = units.kcal / units.mol           # eV per kcal/mol
LABEL = {"energy_mae": "energy MAE", "forces_mae": "force MAE"}


def train_molecule(args, b: dict, budget_key: str, name: str, data) -> dict:
    """Both training modes on one molecule's split; ``{mode: (test errors, result)}``."""
    parts = split(len(data), b["n_train"], b["n_val"], b["n_test"], args.seed)
    src = {k: batches(data, v) for k, v in parts.items()}
    steps = args.max_steps or b["steps"]
    runs = {}
    for mode, rho in MODES.items():
        ckpt = Path(args.cache_dir) / "runs" / (f"schnet_md17_molecules_{budget_key}_{name}_{args.reference}_"
                                                f"seed{args.seed}_steps{steps}_{mode}")
        print(f"{name}: SchNet F={F} T={T}, " + ("energies only" if rho is None else f"rho={rho}")
              + f"; {len(parts['train'])} train / {len(parts['val'])} val / {len(parts['test'])} test frames, "
              f"{steps} steps", flush=True)
        keras.utils.set_random_seed(args.seed)
        _, trainer, result = fit_thesis_schnet(data, parts, src, ckpt, steps, b["lr"], F, T, rho, seed=args.seed)
        runs[mode] = (trainer.errors(src["test"]), result)
    return runs


def gdml_molecule(args, b: dict, budget_key: str, name: str, data) -> dict:
    """GDML (sgdml) on the same training frames as the SchNets, sigma chosen on the validation frames; the test
    errors (eV, eV/A: ``energy_mae``, ``forces_mae`` and RMSEs) and the sigma. The model is kept under
    ``--cache-dir``/runs, so a rerun does not refit it."""
    from tfatoms.models.gdml import SGDML_SIGMAS, GDMLModel, fit_gdml
    from tfatoms.train.metrics import energy_force_metrics

    parts = {k: data.subset(v) for k, v in split(len(data), b["n_train"], b["n_val"], b["n_test"], args.seed).items()}
    sigmas = tuple(args.gdml_sigmas or SGDML_SIGMAS)
    path = Path(args.cache_dir) / "runs" / (f"schnet_md17_molecules_{budget_key}_{name}_{args.reference}_"
                                            f"seed{args.seed}_gdml_sigmas{'-'.join(map(str, sigmas))}.npz")
    n_atoms = int(data.n_atoms[0])
    if path.is_file():
        model = GDMLModel.load(path)
        print(f"{name}: GDML loaded from {path}", flush=True)
    else:
        print(f"{name}: GDML on {len(parts['train'])} frames, sigmas {list(sigmas)}; kernel matrix "
              f"{(3 * n_atoms * len(parts['train'])) ** 2 * 8 / 1e9:.1f} GB", flush=True)
        model = fit_gdml(parts["train"], parts["val"], sigmas=sigmas, max_memory=args.gdml_max_memory)
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    test = parts["test"]
    energies, forces = model.predict(test)
    return dict(energy_force_metrics(energies, test.properties["energy"], np.diff(test.ptr), forces.reshape(-1, 3),
                                     test.properties["forces"]), sigma=model.sigma, solver=model.solver)


def main(argv=None):
    p, args = parse_args(argv)
    budget_key = budget_name(args)
    b = BUDGETS[budget_key]
    qm9 = start_qm9(p, args)
    column = "1k" if b["n_train"] <= 1_000 else "50k"
    steps = args.max_steps or b["steps"]
    out = ResultsWriter(results_name("schnet_md17_molecules", budget_key), root=args.out, seed=args.seed,
                        budget=budget_key, reference_method=f"{args.reference} (tblite/ASE), not the thesis' PBE+vdW-TS",
                        data_source=f"MD17 protocol generated by tfatoms.data.md17: {b['md_steps']} steps of 0.5 fs "
                                    f"at 500 K, a frame every {b['interval']}",
                        protocol=f"{b['n_train']}/{b['n_val']}/{b['n_test']} split per molecule, SchNet F={F} T={T}, "
                                 f"{steps} steps per model",
                        argv=["reproductions/schnet_md17_molecules.py", *(sys.argv[1:] if argv is None else argv)])
    datasets = {name: md17_dataset(args.cache_dir, name, steps=b["md_steps"], interval=b["interval"],
                                   calculator=args.reference, qm9=qm9, seed=args.seed)
                for name in args.molecule_list}             # all data first: a failing reference stops before training
    results = {name: train_molecule(args, b, budget_key, name, data) for name, data in datasets.items()}
    gdml = {name: gdml_molecule(args, b, budget_key, name, data) for name, data in datasets.items()} if args.gdml \
        else {}
    sources = {name: data.metadata.get("start_source") for name, data in datasets.items()}
    with out:
        for name, runs in results.items():
            for mode, (test, result) in runs.items():
                what = "energies only" if mode == "energy" else "energy+forces"
                for q, unit in (("energy_mae", "kcal/mol"), ("forces_mae", "kcal/mol/A")):
                    ref = REFERENCES.get(f"thesis/md17/{name}/{mode}_{column}/{q}")
                    out.add_row(f"{name}, {what}: {LABEL[q]} (test)",
                                test[q] / KCAL, unit, paper=ref, metric=f"{q}.test.{name}.{mode}",
                                note=f"{result.steps} steps; RMSE {test[q.replace('mae', 'rmse')] / KCAL:.3g}")
            if name in gdml:
                g = gdml[name]
                for q, unit in (("energy_mae", "kcal/mol"), ("forces_mae", "kcal/mol/A")):
                    out.add_row(f"{name}, GDML: {LABEL[q]} (test)", g[q] / KCAL, unit,
                                paper=REFERENCES.get(f"thesis/md17/{name}/gdml/{q}"), metric=f"{q}.test.{name}.gdml",
                                note=f"sgdml, sigma {g['sigma']} ({g['solver']}), the same {b['n_train']} training "
                                     f"frames; RMSE {g[q.replace('mae', 'rmse')] / KCAL:.3g}")
            e_only, ef = runs["energy"][0], runs["energy_forces"][0]
            for q in ("energy_mae", "forces_mae"):
                paper = [REFERENCES.get(f"thesis/md17/{name}/{m}_{column}/{q}") for m in MODES]
                out.add_row(f"{name}: {LABEL[q]}, energies only / energy+forces", e_only[q] / ef[q], "x",
                            paper=None if None in paper else paper[0].value / paper[1].value,
                            metric=f"{q}_ratio.{name}")
        out.extra["runs"] = {name: {mode: dict(test=t, steps=r.steps, seconds=r.seconds, stopped=r.stopped)
                                    for mode, (t, r) in runs.items()} for name, runs in results.items()}
        out.extra["start_geometries"] = sources
        if gdml:
            out.extra["gdml"] = gdml
    print(out.markdown())
    return results


if __name__ == "__main__":
    main()
