"""DTNN on MD17 trajectories, energies only, and kernel ridge regression on the Coulomb matrix: thesis Tables 3.2 / 3.3.

The thesis (sec. 3.5.2) trains DTNNs (30 features, 60 factors, Gaussians 0-20 A every 0.2 A, weights shared across
the T passes; :class:`tfatoms.models.DTNN`) with T = 1, 2, 3 interaction passes on the total energies of four MD17
trajectories (benzene, toluene, malonaldehyde, salicylic acid), N = 25,000 / 50,000 / 100,000 training
configurations, 1,000 for validation (early stopping, best epoch kept), SGD with momentum 0.9 at learning rate 1e-4,
3,000 epochs, and reports the test MAE in kcal/mol beside the mean predictor (Table 3.2). Table 3.3 sets the best
DTNN at N = 50,000 beside kernel ridge regression with a Matern kernel on the Coulomb matrix (Chmiela et al. 2017),
which beats it for three of the four molecules: with one composition and a fixed atom order the unsorted Coulomb
matrix identifies every atom and represents the geometry uniquely.

Here, per molecule:
  * the mean predictor (the training mean energy);
  * DTNN T = 1, 2, 3 on energies only (the squared energy loss; no forces), its output scaling E_mu, E_sigma of the
    per-atom energy of the training part (thesis sec. 3.4). The Gaussians stop at the largest distance of the
    trajectory + 1 A (:func:`tfatoms.reproduce.md_runs.all_pairs_rbf_cutoff`, as in ``schnet_md17_molecules.py``):
    those further out are < 4e-6 for every pair of the molecule, so the model is the thesis' up to them, and cheaper;
  * KRR-CM: :class:`sklearn.kernel_ridge.KernelRidge` on a precomputed Matern (nu = 5/2, the GDML kernel) Gram
    matrix (:class:`sklearn.gaussian_process.kernels.Matern`) of the unsorted Coulomb matrix of :mod:`dscribe`
    (``CoulombMatrix(permutation="none")``: the atoms in the trajectory's fixed order, the upper triangle as the
    feature vector); the length scale (1/4 to 8,192 times the median distance between training features) and the
    regularisation (1e-16 to 1e-3) are chosen on the validation part, the test MAE of that model reported. The
    smoothest models win (a trajectory at 500 K is nearly harmonic), at the edge of what a float64 Cholesky
    resolves; scipy's ill-conditioning warnings are silenced, the validation MAE judges each model.

Data: the original MD17 (PBE+vdW-TS) cannot be downloaded here, so each trajectory is generated with the MD17
protocol (500 K, 0.5 fs) by :mod:`tfatoms.data.md17` with ``--reference`` (default GFN2-xTB through tblite), from
QM9's geometry where the molecule is in it (benzene, toluene) or RDKit. The default data budget is that of
``schnet_md17_molecules.py``, so both scripts share the cached trajectories. The thesis' numbers are on another
reference method and trajectory: they are the pattern to compare with, not the same data.

Budgets (per molecule):
  --quick    400 MD steps, a frame every 4th: 50 / 10 / 40 split, 20 training steps per DTNN (wiring only).
  default    20,000 MD steps (10 ps), a frame every 10th (2,000 frames): N = 1,000 training, 200 validation,
             800 test; 5,000 training steps per DTNN (157 epochs), Adam cosine-decayed 1e-3 -> 1e-5 (the thesis'
             SGD at 1e-4 does not converge in a budget this short), best validation epoch kept; 12 models in
             about 20-25 minutes on 2 CPU cores. The thesis has no N = 1,000 DTNN row: the DTNN rows show its
             N = 25,000 numbers (its smallest N) as the paper value, with a note saying so; the KRR row shows
             Table 3.3's (N = 27,000-48,000, in the note).
  --full     the thesis: 240,000 MD steps with a frame every 2nd (120,000 frames), N in {25k, 50k, 100k},
             1,000 validation, 10,000 test (the same test frames for every N), SGD momentum 0.9 at 1e-4 for 3,000
             epochs (GPU-sized); KRR-CM with Table 3.3's N per molecule (hyperparameters chosen with 5,000 of
             them; the Gram matrices of 48,000 frames need ~40 GB of memory).

    python reproductions/dtnn_md17.py
    python reproductions/dtnn_md17.py --molecules benzene,toluene --interactions 2 --max-steps 5000

Writes ``results/dtnn_md17[_quick|_full]/``: per molecule the test energy MAE of the mean predictor, of each DTNN
and of KRR-CM beside Tables 3.2/3.3, and the ratio of the best DTNN (chosen on validation) to KRR-CM beside Table
3.3's. Data and DTNN training resume after a kill (``--cache-dir``; checkpoints under ``runs/``).
"""
from __future__ import annotations

import sys

from tfatoms.reproduce.cli import (add_molecules_option, add_reference_option, add_start_option, budget_name,
                                   check_molecules, check_reference, positive, reproduction_parser, results_name,
                                   start_qm9)

BUDGETS = {
    "quick": dict(md_steps=400, interval=4, n_train=[50], n_val=10, n_test=40, steps=lambda n: 20,
                  lr=(1e-3, 1e-4), momentum=None, krr_n=None),
    "default": dict(md_steps=20_000, interval=10, n_train=[1_000], n_val=200, n_test=800, steps=lambda n: 5_000,
                    lr=(1e-3, 1e-5), momentum=None, krr_n=None),
    "full": dict(md_steps=240_000, interval=2, n_train=[25_000, 50_000, 100_000], n_val=1_000, n_test=10_000,
                 steps=lambda n: 3_000 * -(-n // 32), lr=(1e-4, 1e-4), momentum=0.9,
                 krr_n={"benzene": 36_000, "toluene": 45_000, "malonaldehyde": 27_000, "salicylic_acid": 48_000}),
}
MOLECULES = ("benzene", "toluene", "malonaldehyde", "salicylic_acid")     # thesis Table 3.2
N_FEATURES, N_FACTORS = 30, 60          # thesis sec. 3.5
KRR_SELECT_MAX = 5_000                  # training frames the KRR grid search uses at most
KRR_LENGTH_FACTORS = tuple(2.0 ** k for k in range(-2, 14))     # x the median training distance of the features
KRR_ALPHAS = tuple(10.0 ** k for k in range(-16, -2))    # 1e-16 .. 1e-3
MATERN_NU = 2.5                         # GDML's (Chmiela et al. 2017) Matern kernel


def parse_args(argv=None):
    p, _ = reproduction_parser(__doc__, "dtnn_md17", "the thesis' N = 25k/50k/100k, SGD 1e-4, 3,000 epochs "
                                                     "(GPU-sized)")
    add_molecules_option(p, MOLECULES, "default Table 3.2's four")
    add_reference_option(p, "the MD")
    add_start_option(p)
    p.add_argument("--interactions", type=positive(int), nargs="+", default=[1, 2, 3],
                   help="DTNN interaction passes T (Table 3.2: 1 2 3)")
    p.add_argument("--n-train", type=positive(int), nargs="+", help="training sizes (override the budget's)")
    p.add_argument("--max-steps", type=positive(int), help="training steps per DTNN (overrides the budget's)")
    p.add_argument("--no-krr", action="store_true", help="skip the KRR-CM baseline (Table 3.3)")
    args = p.parse_args(argv)
    check_molecules(p, args)
    args.interactions = list(dict.fromkeys(args.interactions))
    b = BUDGETS[budget_name(args)]
    frames = b["md_steps"] // b["interval"]
    for n in args.n_train or []:
        if n + b["n_val"] + b["n_test"] > frames:
            p.error(f"--n-train {n}: the trajectory of this budget has {frames} frames, of which {b['n_val']} "
                    f"validate and {b['n_test']} test; at most {frames - b['n_val'] - b['n_test']} can train")
    check_reference(p, args)
    if not args.no_krr:
        import importlib.util

        missing = [m for m in ("dscribe", "sklearn") if importlib.util.find_spec(m) is None]
        if missing:
            p.error(f"the KRR-CM baseline needs dscribe and scikit-learn ({', '.join(missing)} not installed): "
                    f"pip install dscribe scikit-learn, or pass --no-krr")
    return p, args


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before TensorFlow loads

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from ase import units  # noqa: E402

KCAL = units.kcal / units.mol           # eV per kcal/mol


# ----------------------------------------------------------------------------------------------------------------
# KRR with the Coulomb matrix (thesis Table 3.3)

def coulomb_matrices(data) -> np.ndarray:
    """``(n_frames, n_atoms, n_atoms)`` unsorted Coulomb matrices of a trajectory ``data`` (one molecule, the atoms
    in the same order in every frame): ``Z_i Z_j / |r_i - r_j|`` (A^-1), ``0.5 Z_i^2.4`` on the diagonal
    (dscribe ``CoulombMatrix(permutation="none")``)."""
    from dscribe.descriptors import CoulombMatrix

    n = np.asarray(data.n_atoms)
    z = np.asarray(data.numbers)
    if len(n) == 0 or np.any(n != n[0]) or np.any(z.reshape(len(n), n[0]) != z[:n[0]]):
        raise ValueError("the unsorted Coulomb matrix needs one molecule with its atoms in the same order in every "
                         "frame (an MD trajectory)")
    cm = CoulombMatrix(n_atoms_max=int(n[0]), permutation="none")
    return np.asarray(cm.create(list(data), n_jobs=1), dtype=np.float64).reshape(len(n), n[0], n[0])


def cm_features(data) -> np.ndarray:
    """``(n_frames, n (n + 1) / 2)``: the upper triangle (diagonal included) of :func:`coulomb_matrices`."""
    m = coulomb_matrices(data)
    iu = np.triu_indices(m.shape[1])
    return m[:, iu[0], iu[1]]


def matern(a, b, length_scale: float) -> np.ndarray:
    """The Matern (nu = 5/2) kernel matrix of the rows of ``a`` and ``b`` (scikit-learn)."""
    from sklearn.gaussian_process.kernels import Matern

    return Matern(length_scale=length_scale, nu=MATERN_NU)(a, b)


def fit_krr_cm(x: np.ndarray, y: np.ndarray, parts: dict, select_max: int = KRR_SELECT_MAX,
               length_factors=KRR_LENGTH_FACTORS, alphas=KRR_ALPHAS) -> dict:
    """Kernel ridge regression (:class:`sklearn.kernel_ridge.KernelRidge`, precomputed Matern Gram matrix) of
    ``y`` on features ``x`` (e.g. :func:`cm_features`): trained on ``parts["train"]`` around its mean, the length
    scale (``length_factors`` x the median distance between training features) and ``alpha`` chosen by the
    validation MAE (with the first ``select_max`` training frames); returns the chosen hyperparameters, the
    validation and test MAE (in ``y``'s unit) and the test predictions."""
    import warnings

    from scipy.spatial.distance import pdist
    from sklearn.kernel_ridge import KernelRidge

    tr, va, te = (np.asarray(parts[k]) for k in ("train", "val", "test"))
    mean = float(np.mean(y[tr]))
    sel = tr[:select_max]
    median = float(np.median(pdist(x[sel[:2_000]])))
    if not median > 0:
        raise ValueError("the training features are all equal: nothing for a kernel to learn")
    best = None
    with warnings.catch_warnings():
        # the smoothest models win (an MD trajectory at 500 K is nearly harmonic): their Gram matrices are
        # ill-conditioned, which scipy warns of (and scikit-learn falls back to least squares where Cholesky fails);
        # the validation MAE judges each model all the same
        warnings.simplefilter("ignore")
        for factor in length_factors:
            scale = factor * median
            k_sel, k_val = matern(x[sel], x[sel], scale), matern(x[va], x[sel], scale)
            for alpha in alphas:
                model = KernelRidge(alpha=alpha, kernel="precomputed").fit(k_sel, y[sel] - mean)
                mae = float(np.mean(np.abs(model.predict(k_val) + mean - y[va])))
                if np.isfinite(mae) and (best is None or mae < best[0]):
                    best = (mae, scale, alpha)
        if best is None:
            raise FloatingPointError("no KRR model of the grid gave a finite validation MAE")
        _, scale, alpha = best
        model = KernelRidge(alpha=alpha, kernel="precomputed").fit(matern(x[tr], x[tr], scale), y[tr] - mean)
    pred_val = model.predict(matern(x[va], x[tr], scale)) + mean
    pred = model.predict(matern(x[te], x[tr], scale)) + mean
    return dict(length_scale=scale, length_factor=scale / median, alpha=alpha, n_train=len(tr),
                val_mae=float(np.mean(np.abs(pred_val - y[va]))), test_mae=float(np.mean(np.abs(pred - y[te]))),
                test_pred=pred)


def mean_predictor_mae(y: np.ndarray, parts: dict) -> float:
    """Test MAE of predicting the training mean."""
    return float(np.mean(np.abs(y[parts["test"]] - np.mean(y[parts["train"]]))))


# ----------------------------------------------------------------------------------------------------------------
# DTNN on energies (thesis Table 3.2)

def thesis_dtnn(train, n_interactions: int, rbf_cutoff: float):
    """The thesis DTNN (30 features, 60 factors, shared interaction weights) with ``E_mu``, ``E_sigma`` of the
    per-atom energy of ``train`` (thesis sec. 3.4; total energies, no element references)."""
    from tfatoms.models import DTNN, per_atom_scaling

    numbers = [train.numbers[train.atom_slice(k)] for k in range(len(train))]
    e_mu, e_sigma = per_atom_scaling(numbers, train.properties["energy"])
    return DTNN(n_features=N_FEATURES, n_factors=N_FACTORS, n_interactions=n_interactions, rbf_cutoff=rbf_cutoff,
                e_mu=e_mu, e_sigma=e_sigma)


def fit_thesis_dtnn(data, parts: dict, src: dict, checkpoint, steps: int, lr=(1e-3, 1e-5), n_interactions: int = 3,
                    momentum: float | None = None, rbf_cutoff: float | None = None, seed: int = 0,
                    jit_compile: bool = True, **fit_kwargs):
    """Train :func:`thesis_dtnn` on ``parts["train"]`` of ``data`` (energy batches ``src``) with the squared
    energy loss for ``steps`` steps: Adam with a cosine decay ``lr = (start, end)``, or SGD with ``momentum`` at
    ``lr[0]`` (the thesis: 0.9, 1e-4); resumable from ``checkpoint``, the best validation epoch kept.
    ``fit_kwargs`` go to ``BatchTrainer.fit``. Returns ``(model, trainer, result)``."""
    import keras

    from tfatoms.reproduce.md_runs import all_pairs_rbf_cutoff
    from tfatoms.train.trainer import BatchTrainer, budget_learning_rate

    rbf_cutoff = all_pairs_rbf_cutoff(data) if rbf_cutoff is None else rbf_cutoff
    model = thesis_dtnn(data.subset(parts["train"]), n_interactions, rbf_cutoff)
    if momentum is None:
        trainer = BatchTrainer(model, learning_rate=budget_learning_rate(*lr, steps), jit_compile=jit_compile)
    else:
        trainer = BatchTrainer(model, optimizer=keras.optimizers.SGD(lr[0], momentum=momentum),
                               jit_compile=jit_compile)
    result = trainer.fit(src["train"], src["val"], checkpoint, max_steps=steps, seed=seed, **fit_kwargs)
    return model, trainer, result


# ----------------------------------------------------------------------------------------------------------------

def paper_key(name: str, what: str) -> str:
    return f"thesis/dtnn_md17/{name}/{what}/energy_mae"


def dtnn_reference(name: str, t: int, n_train: int):
    """``(Reference or None, note)``: Table 3.2's number for the same N, or its N = 25,000 one below that."""
    from tfatoms.reproduce.references import REFERENCES

    column = f"T{t}_{n_train // 1000}k"
    if n_train % 1000 == 0 and paper_key(name, column) in REFERENCES:
        return REFERENCES[paper_key(name, column)], ""
    if n_train < 25_000 and paper_key(name, f"T{t}_25k") in REFERENCES:
        return REFERENCES[paper_key(name, f"T{t}_25k")], "paper: the thesis' N = 25,000 (its smallest N)"
    return None, ""


def run_molecule(args, b: dict, budget_key: str, name: str, data) -> dict:
    """Mean predictor, KRR-CM and the DTNNs of one molecule, for each training size."""
    import keras

    from tfatoms.reproduce.md_runs import batches

    y = np.asarray(data.properties["energy"], np.float64)
    steps_of = (lambda n: args.max_steps) if args.max_steps else b["steps"]
    out = {"n": {}}
    x = None if args.no_krr else cm_features(data)
    for n_train in args.n_train or b["n_train"]:
        parts = {k: np.asarray(v) for k, v in split_frames(len(data), n_train, b, args.seed).items()}
        src = {k: batches(data, v, forces=False) for k, v in parts.items()}    # energies only
        steps = steps_of(n_train)
        res = {"mean": mean_predictor_mae(y, parts), "dtnn": {}, "split": {k: len(v) for k, v in parts.items()}}
        for t in args.interactions:
            ckpt = Path(args.cache_dir) / "runs" / (f"dtnn_md17_{budget_key}_{name}_{args.reference}_{args.start}_"
                                                    f"seed{args.seed}_n{n_train}_steps{steps}_T{t}")
            print(f"{name}: DTNN T={t}; {len(parts['train'])} train / {len(parts['val'])} val / "
                  f"{len(parts['test'])} test frames, {steps} steps; checkpoints in {ckpt}", flush=True)
            keras.utils.set_random_seed(args.seed)
            model, trainer, result = fit_thesis_dtnn(data, parts, src, ckpt, steps, b["lr"], t, b["momentum"],
                                                     seed=args.seed)
            test = trainer.errors(src["test"])
            res["dtnn"][t] = dict(test_mae=test["mae"], test_rmse=test["rmse"], val_mae=result.best_val_mae,
                                  steps=result.steps, epochs=result.epochs, best_epoch=result.best_epoch,
                                  seconds=result.seconds, stopped=result.stopped,
                                  n_params=int(model.count_params()))
        out["n"][n_train] = res
    if x is not None:
        krr_n = (b["krr_n"] or {}).get(name) or max(args.n_train or b["n_train"])
        krr_n = min(krr_n, len(data) - b["n_val"] - b["n_test"])
        parts = split_frames(len(data), krr_n, b, args.seed)
        print(f"{name}: KRR-CM (Matern nu={MATERN_NU}), {krr_n} training frames", flush=True)
        krr = fit_krr_cm(x, y, parts)
        krr.pop("test_pred")
        out["krr"] = krr
    return out


def split_frames(n: int, n_train: int, b: dict, seed: int) -> dict:
    from tfatoms.reproduce.md_runs import split

    return split(n, n_train, b["n_val"], b["n_test"], seed)


def main(argv=None):
    import importlib

    p, args = parse_args(argv)
    importlib.import_module("tfatoms._tensorflow")     # TensorFlow without its start-up log lines
    budget_key = budget_name(args)
    b = BUDGETS[budget_key]
    qm9 = start_qm9(p, args)
    from tfatoms.data.md17 import md17_dataset
    from tfatoms.reproduce import ResultsWriter
    from tfatoms.reproduce.references import REFERENCES

    sizes = args.n_train or b["n_train"]
    steps = {n: args.max_steps or b["steps"](n) for n in sizes}
    opt = (f"Adam cosine {b['lr'][0]:g} -> {b['lr'][1]:g}" if b["momentum"] is None
           else f"SGD momentum {b['momentum']:g}, lr {b['lr'][0]:g}")
    out = ResultsWriter(results_name("dtnn_md17", budget_key), root=args.out, seed=args.seed, budget=budget_key,
                        reference_method=f"{args.reference} (tblite/ASE), not the thesis' PBE+vdW-TS",
                        data_source=f"MD17 protocol generated by tfatoms.data.md17: {b['md_steps']} steps of 0.5 fs "
                                    f"at 500 K, a frame every {b['interval']}, starts: {args.start}",
                        protocol=f"N = {sizes} / {b['n_val']} / {b['n_test']} split per molecule; DTNN F={N_FEATURES} "
                                 f"factors={N_FACTORS} T={args.interactions}, energies only, {opt}, steps {steps}, "
                                 f"best validation epoch; KRR-CM Matern nu={MATERN_NU}, length scale and alpha on "
                                 f"validation",
                        argv=["reproductions/dtnn_md17.py", *(sys.argv[1:] if argv is None else argv)])
    datasets = {name: md17_dataset(args.cache_dir, name, steps=b["md_steps"], interval=b["interval"],
                                   calculator=args.reference, qm9=qm9, seed=args.seed)
                for name in args.molecule_list}             # all data first: a failing reference stops before training
    results = {name: run_molecule(args, b, budget_key, name, data) for name, data in datasets.items()}
    with out:
        for name, res in results.items():
            for n_train, r in res["n"].items():
                out.add_row(f"{name}: mean predictor (test)", r["mean"] / KCAL, "kcal/mol",
                            paper=REFERENCES.get(paper_key(name, "mean_predictor")),
                            metric=f"energy_mae.test.{name}.mean.n{n_train}",
                            note=f"training mean of {r['split']['train']} frames")
                for t, d in r["dtnn"].items():
                    ref, note = dtnn_reference(name, t, n_train)
                    out.add_row(f"{name}: DTNN T={t}, N={n_train} (test)", d["test_mae"] / KCAL, "kcal/mol",
                                paper=ref, metric=f"energy_mae.test.{name}.dtnn_T{t}.n{n_train}",
                                note="; ".join(x for x in (note, f"{d['steps']} steps, best epoch {d['best_epoch']} "
                                                                 f"of {d['epochs']}; RMSE "
                                                                 f"{d['test_rmse'] / KCAL:.3g}") if x))
            if "krr" in res:
                k = res["krr"]
                ref = REFERENCES.get(paper_key(name, "krr_cm"))
                out.add_row(f"{name}: KRR-CM, N={k['n_train']} (test)", k["test_mae"] / KCAL, "kcal/mol", paper=ref,
                            metric=f"energy_mae.test.{name}.krr_cm.n{k['n_train']}",
                            note=f"Matern nu={MATERN_NU}, length scale {k['length_scale']:.3g} "
                                 f"({k['length_factor']:g} x median), alpha {k['alpha']:g}"
                                 + (f"; paper: {ref.note}" if ref is not None else ""))
                n_best = max(res["n"])
                dtnn = res["n"][n_best]["dtnn"]
                if dtnn:
                    t_best = min(dtnn, key=lambda t: dtnn[t]["val_mae"])
                    best_50k = REFERENCES.get(paper_key(name, "dtnn_best_50k"))
                    out.add_row(f"{name}: DTNN (best T={t_best} on validation, N={n_best}) / KRR-CM test MAE",
                                dtnn[t_best]["test_mae"] / k["test_mae"], "x",
                                paper=None if ref is None or best_50k is None else best_50k.value / ref.value,
                                metric=f"ratio.{name}.dtnn_best_over_krr_cm",
                                note="paper: Table 3.3, DTNN best T at N = 50,000 over KRR-CM")
        out.extra["runs"] = {name: {"n": {str(n): {**r, "dtnn": {str(t): d for t, d in r["dtnn"].items()}}
                                          for n, r in res["n"].items()}, "krr": res.get("krr")}
                             for name, res in results.items()}
        out.extra["start_geometries"] = {name: data.metadata.get("start_source") for name, data in datasets.items()}
    print(out.markdown())
    return results


if __name__ == "__main__":
    main()
