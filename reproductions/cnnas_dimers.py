"""CNNAS on Lennard-Jones dimers: Ryczko et al. (2018) sec. 2-3.2, Table 1 dimer rows, Figs. 3-5.

Data (generated, exact reference): two atoms (Z = 1) in a 10 A box, separation
uniform in r on 1-3 A (each row keeps the separations whose label lies in its
range), random orientation, duplicates excluded; labels r12 and the
Lennard-Jones energy (sigma = 1 A, eps = 1). Images: Gaussians of gamma = 0.2 A
(eq. 1) on a grid over the box, rasterised per batch. Split: 70 % train /
30 % test, 10 % of train for validation (sec. 2.2).

Model: CNNAS Network 1 (tfatoms.models.cnnas: the 13-convolution CNN of Mills
et al. 2017, FC 1024, FC 1; 3-D kernels and fewer non-reducing layers in 3-D),
MSE loss, Adam, best validation epoch kept.

Outputs (reproductions/results/cnnas_dimers[_<budget>]/):
  table.md     every Table 1 dimer row: our test MAE next to the paper's, and the
               grid, images and epochs that produced it; rows.csv adds the
               validation MSE (the paper's last column)
  fig3_loss_curves.png, fig4_parity.png, fig5_interp_extrap.png
  baselines: random forest (200 trees), kernel ridge (linear; Gaussian with
  gamma = 1, 2, 4, 16), MLP 2 x 10 ReLU (Adam 1e-3, 200 epochs) on the raw
  flattened images of the 1-2 A distance task, scikit-learn, as sec. 3.1.

Budgets (2 cores, CPU):
  --quick   about a minute: 600 2-D / 300 3-D dimers per row, 32^2 / 16^3 grids (tests).
  default   56 min here: 12,000 dimers per 2-D row on 64 x 64 (the grid the paper found as
            good as 256 x 256: 1.70e-3 vs 1.41e-3 eps), 4,000 per 3-D row on 32^3,
            grid study 32/64/128 on 6,000 dimers each; Adam 3e-4 cosine-decayed to 3e-6,
            batch 32, 16 epochs (2-D), 10 (3-D, grid study); baselines on the same
            12,000-dimer 1-2 A task, random forest with 10 % of the features per split.
  --full    the paper's protocol: 500,000 2-D images on 256 x 256, 100,000 3-D on 64^3,
            500 epochs, Adam 1e-4 constant; baselines on 50,000 distances, random forest
            with every feature per split (needs GPUs and days).
  --budget extended   the default with 40 epochs for 2-D rows and 16,000 dimers per 3-D row
            (used with --rows distance_2d_1_2 distance_3d_1_2 energy_3d_-1_0 baselines, ~30 min).

    python reproductions/cnnas_dimers.py [--quick | --full] [--rows distance_2d_1_2 ...]

Datasets (HDF5) and training checkpoints are cached under --cache-dir; an
interrupted run resumes where it stopped.
"""
from __future__ import annotations

import csv
import io
import json
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from tfatoms.data.dimers import Selection
from tfatoms.reproduce.cli import budget_name, reproduction_parser, results_name

GAMMA = 0.2     # A, eq. 1


@dataclass(frozen=True)
class Row:
    """One Table 1 dimer row: a CNN trained on ``selection`` in ``dim`` dimensions."""

    key: str
    dim: int
    label: str
    intervals: tuple
    reference: str
    group: str          # "main" or "grid" (grid-size study: its own grid and dataset size)
    grid: int | None = None

    @property
    def selection(self) -> Selection:
        return Selection(self.label, self.intervals)

    @property
    def unit(self) -> str:
        return "A" if self.label == "distance" else "eps"


INTERP_R = ((1.0, 1.67), (2.33, 3.0))
INTERP_U = ((-1.0, -0.67), (-0.33, 0.0))
ROWS = [
    Row("distance_2d_1_3", 2, "distance", ((1.0, 3.0),), "cnnas/dimer_2d/r12_1_3/mae", "main"),
    Row("distance_2d_1_2", 2, "distance", ((1.0, 2.0),), "cnnas/dimer_2d/r12_1_2/mae", "main"),
    Row("distance_2d_2_3", 2, "distance", ((2.0, 3.0),), "cnnas/dimer_2d/r12_2_3/mae", "main"),
    Row("distance_2d_interp", 2, "distance", INTERP_R, "cnnas/dimer_2d/r12_interp/mae", "main"),
    Row("distance_3d_1_3", 3, "distance", ((1.0, 3.0),), "cnnas/dimer_3d/r12_1_3/mae", "main"),
    Row("distance_3d_1_2", 3, "distance", ((1.0, 2.0),), "cnnas/dimer_3d/r12_1_2/mae", "main"),
    Row("distance_3d_2_3", 3, "distance", ((2.0, 3.0),), "cnnas/dimer_3d/r12_2_3/mae", "main"),
    Row("distance_3d_interp", 3, "distance", INTERP_R, "cnnas/dimer_3d/r12_interp/mae", "main"),
    Row("energy_2d_-1_0", 2, "energy", ((-1.0, 0.0),), "cnnas/dimer_2d/u_-1_0/mae", "main"),
    Row("energy_2d_-0.5_0", 2, "energy", ((-0.5, 0.0),), "cnnas/dimer_2d/u_-0.5_0/mae", "main"),
    Row("energy_2d_-1_-0.5", 2, "energy", ((-1.0, -0.5),), "cnnas/dimer_2d/u_-1_-0.5/mae", "main"),
    Row("energy_2d_interp", 2, "energy", INTERP_U, "cnnas/dimer_2d/u_interp/mae", "main"),
    Row("energy_3d_-1_0", 3, "energy", ((-1.0, 0.0),), "cnnas/dimer_3d/u_-1_0/mae", "main"),
    Row("energy_3d_-0.5_0", 3, "energy", ((-0.5, 0.0),), "cnnas/dimer_3d/u_-0.5_0/mae", "main"),
    Row("energy_3d_interp", 3, "energy", INTERP_U, "cnnas/dimer_3d/u_interp/mae", "main"),
]
GRID_STUDY = (32, 64, 128)       # the paper's 2-D energy model at three grids (Table 1)
ROWS += [Row(f"energy_2d_grid{g}", 2, "energy", ((-1.0, 0.0),), f"cnnas/dimer_2d_grid{g}/u_-1_0/mae", "grid", g)
         for g in GRID_STUDY]
BASELINE_ROW = "distance_2d_1_2"
#: Fig. 5: (a)-(c) 2-D distance models, (d)-(f) 2-D energy models, on dimers over the whole 1-3 A range.
FIG5 = ("distance_2d_1_2", "distance_2d_interp", "distance_2d_2_3",
        "energy_2d_-0.5_0", "energy_2d_interp", "energy_2d_-1_-0.5")
FIG3 = ("distance_2d_1_3", "distance_3d_1_3", "energy_2d_-1_0", "energy_3d_-1_0")
FIG4 = ("distance_2d_1_2", "distance_3d_1_2", "energy_2d_-1_0", "energy_3d_-1_0")

BUDGETS = {
    "quick": dict(n={2: 600, 3: 300}, grid={2: 32, 3: 16}, epochs={2: 2, 3: 2}, n_grid=400, grid_study=(16, 32, 64),
                  epochs_grid=2, batch=32, lr=3e-4, lr_final=3e-6, n_baseline=600, rf_trees=20,
                  rf_max_features=0.1, n_eval=600),
    "default": dict(n={2: 12_000, 3: 4_000}, grid={2: 64, 3: 32}, epochs={2: 16, 3: 10}, n_grid=6_000,
                    grid_study=GRID_STUDY, epochs_grid=10, batch=32, lr=3e-4, lr_final=3e-6, n_baseline=12_000,
                    rf_trees=200, rf_max_features=0.1, n_eval=6_000),
    # default, but the 1-2 A distance CNN trained 40 epochs and the 3-D models on 4x the data (they overfit
    # 2,520 training images within 10 epochs); for the Fig. 4 rows and the baselines
    "extended": dict(n={2: 12_000, 3: 16_000}, grid={2: 64, 3: 32}, epochs={2: 40, 3: 10}, n_grid=6_000,
                     grid_study=GRID_STUDY, epochs_grid=10, batch=32, lr=3e-4, lr_final=3e-6, n_baseline=12_000,
                     rf_trees=200, rf_max_features=0.1, n_eval=6_000),
    "full": dict(n={2: 500_000, 3: 100_000}, grid={2: 256, 3: 64}, epochs={2: 500, 3: 500}, n_grid=500_000,
                 grid_study=GRID_STUDY, epochs_grid=500, batch=32, lr=1e-4, lr_final=None, n_baseline=50_000,
                 rf_trees=200, rf_max_features=1.0, n_eval=50_000),
}


def parse_args(argv=None):
    p, g = reproduction_parser(__doc__, "cnnas_dimers", "the paper's protocol (500,000 2-D / 100,000 3-D images, "
                                                        "500 epochs, Adam 1e-4; needs GPUs)")
    g.add_argument("--budget", choices=sorted(BUDGETS), help="any budget by name")
    p.add_argument("--rows", nargs="+", choices=[r.key for r in ROWS] + ["baselines"], metavar="ROW",
                   help="only these Table 1 rows (default: all, with the baselines); one of "
                        + ", ".join([r.key for r in ROWS] + ["baselines"]))
    return p.parse_args(argv)


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before TensorFlow loads

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfatoms.data.dimers import REFERENCE as DIMER_REFERENCE, dimer_dataset, lj_energy  # noqa: E402
from tfatoms.models.cnnas import network_1  # noqa: E402
from tfatoms.reproduce import ResultsWriter  # noqa: E402
from tfatoms.reproduce.results import atomic_write  # noqa: E402
from tfatoms.train.trainer import BatchTrainer, budget_learning_rate  # noqa: E402


def row_plan(row: Row, b: dict) -> dict:
    """Grid, dataset size and epochs of ``row`` under budget ``b`` (the grid study keeps its own grid)."""
    if row.group == "grid":
        grids = dict(zip(GRID_STUDY, b["grid_study"]))
        plan = dict(grid=grids[row.grid], n=b["n_grid"], epochs=b["epochs_grid"])
    else:
        plan = dict(grid=b["grid"][row.dim], n=b["n"][row.dim], epochs=b["epochs"][row.dim])
    return plan


def row_seed(seed: int, key: str) -> int:
    return seed * 1_000_003 + zlib.crc32(key.encode())


def load_row_data(row: Row, plan: dict, seed: int, cache: Path):
    name = f"{row.dim}d_{row.label}_{'_'.join(f'{lo:g}_{hi:g}' for lo, hi in row.intervals)}_n{plan['n']}_s{seed}.h5"
    return dimer_dataset(cache / "dimers" / name, plan["n"], row.dim, row.selection,
                         seed=row_seed(seed, f"{row.dim}{row.label}{row.intervals}"))


def train_row(row: Row, b: dict, seed: int, cache: Path, ckpt_root: Path, progress: bool):
    """Train (or resume) the CNN of ``row``; return ``(record, trainer, plan)``."""
    plan = row_plan(row, b)
    data = load_row_data(row, plan, seed, cache)
    split = data.split(seed)
    y = data.target(row.label)
    src = {k: data.subset(i).images(plan["grid"], row.label, batch_size=b["batch"], gamma=GAMMA)
           for k, i in split.items()}
    keras.utils.set_random_seed(row_seed(seed, row.key) % 2 ** 31)
    model = network_1(plan["grid"], row.dim, output_scale=float(y[split["train"]].std()),
                      output_offset=float(y[split["train"]].mean()), name=f"network_1_{row.dim}d")
    steps = plan["epochs"] * src["train"].n_batches()
    lr = b["lr"] if b["lr_final"] is None else budget_learning_rate(b["lr"], b["lr_final"], steps)
    trainer = BatchTrainer(model, learning_rate=lr)
    ckpt = ckpt_root / f"{row.key}_g{plan['grid']}_n{plan['n']}_e{plan['epochs']}"
    print(f"== {row.key}: {row.dim}-D, {row.selection.describe()}, {plan['grid']}^{row.dim} grid, "
          f"{len(split['train'])} train / {len(split['val'])} val / {len(split['test'])} test, "
          f"{plan['epochs']} epochs ({steps} steps)", flush=True)
    fit = trainer.fit(src["train"], src["val"], ckpt, max_steps=steps, seed=seed, progress=progress)
    pred = trainer.predict(src["test"])
    err = pred - y[split["test"]]
    best = next((h for h in fit.history if h["epoch"] == fit.best_epoch), {})
    record = dict(key=row.key, dim=row.dim, label=row.label, selection=row.selection.describe(),
                  grid=plan["grid"], n_images=plan["n"], n_train=len(split["train"]), epochs=plan["epochs"],
                  steps=fit.steps, train_seconds=fit.seconds, best_epoch=fit.best_epoch,
                  test_mae=float(np.mean(np.abs(err))), test_rmse=float(np.sqrt(np.mean(err ** 2))),
                  val_mse=best.get("val_mse", float("nan")), history=fit.history,
                  train_images_per_s=fit.steps * b["batch"] / max(fit.seconds, 1e-9))
    record["test_pred"], record["test_true"] = pred, y[split["test"]]
    record["train_labels"], record["train_r12"] = y[split["train"]], data.r12[split["train"]]
    print(f"   test MAE {record['test_mae']:.3g} {row.unit} (paper: see table), {fit.seconds:.0f} s", flush=True)
    return record, trainer, plan


def evaluate_full_range(trainer, plan: dict, row: Row, eval_data, batch: int) -> dict:
    """Predictions of ``row``'s model on dimers over the whole 1-3 A range (Fig. 5), in- vs out-of-range."""
    src = eval_data.images(plan["grid"], row.label, batch_size=batch, gamma=GAMMA)
    pred = trainer.predict(src)
    true = eval_data.target(row.label)
    inside = row.selection.contains(eval_data.r12)
    err = np.abs(pred - true)
    out = dict(pred=pred, r12=eval_data.r12, true=true, inside=inside,
               mae_in=float(err[inside].mean()), mae_out=float(err[~inside].mean()))
    out["ratio_out_in"] = out["mae_out"] / out["mae_in"]
    if len(row.intervals) == 1:   # extrapolation: held-out labels lie beyond one edge of the training range
        lo, hi = row.intervals[0]
        far = ~inside & ((true < lo - 0.25 * (hi - lo)) | (true > hi + 0.25 * (hi - lo)))
        edge = np.where(true[far] < lo, lo, hi)
        out["edge_overshoot_median"] = float(np.median(np.abs(pred[far] - edge)))      # how far predictions go past
        out["true_beyond_edge_median"] = float(np.median(np.abs(true[far] - edge)))    # how far the truth is
        out["saturation_ratio"] = out["edge_overshoot_median"] / out["true_beyond_edge_median"]
        out["pred_range_out"] = [float(pred[~inside].min()), float(pred[~inside].max())]
    return out


def run_baselines(data, split, b: dict, seed: int, cache_dir: Path | None = None) -> dict:
    """scikit-learn baselines of sec. 3.1 on the raw flattened images of the 1-2 A distance task.

    With ``cache_dir`` the results are stored there under a name derived from their parameters
    and reused by any rerun or budget with the same ones (the random forest alone takes minutes).
    """
    grid = b["grid"][2]
    params = json.loads(json.dumps({"grid": grid, "n_baseline": b["n_baseline"], "rf_trees": b["rf_trees"],
                                    "rf_max_features": b["rf_max_features"], "seed": seed,
                                    "dataset": data.params}))
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"{zlib.crc32(json.dumps(params, sort_keys=True).encode()):08x}.json"
    if cache_file is not None and cache_file.exists():
        stored = json.loads(cache_file.read_text())
        if stored.get("params") == params:
            print("   baselines: reusing " + str(cache_file), flush=True)
            return stored["results"]
    try:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.kernel_ridge import KernelRidge
        from sklearn.neural_network import MLPRegressor
    except ImportError as err:
        raise SystemExit(f"the baselines need scikit-learn ({err}): pip install 'tfatoms[ml]', "
                         "or leave 'baselines' out of --rows") from err

    n_fit, n_test = int(round(0.7 * b["n_baseline"])), int(round(0.3 * b["n_baseline"]))
    fit_idx = np.concatenate([split["train"], split["val"]])[:n_fit]
    test_idx = split["test"][:n_test]
    x_fit, x_test = data.subset(fit_idx).flat_images(grid, GAMMA), data.subset(test_idx).flat_images(grid, GAMMA)
    y_fit, y_test = data.r12[fit_idx], data.r12[test_idx]
    models = {
        "random_forest": RandomForestRegressor(n_estimators=b["rf_trees"], criterion="squared_error",
                                               max_features=b["rf_max_features"], n_jobs=-1, random_state=seed),
        "krr_linear": KernelRidge(alpha=1.0, kernel="linear", degree=3, coef0=1),
        **{f"krr_gaussian_gamma{g}": KernelRidge(alpha=1.0, kernel="rbf", gamma=g) for g in (1, 2, 4, 16)},
        "mlp": MLPRegressor(hidden_layer_sizes=(10, 10), activation="relu", solver="adam", learning_rate_init=1e-3,
                            max_iter=200, random_state=seed),
    }
    out = {"n_fit": len(fit_idx), "n_test": len(test_idx), "grid": grid, "features": x_fit.shape[1]}
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(x_fit, y_fit)
        mae = float(np.mean(np.abs(model.predict(x_test) - y_test)))
        out[name] = {"mae": mae, "seconds": time.perf_counter() - t0}
        print(f"   baseline {name}: MAE {mae:.4g} A ({out[name]['seconds']:.0f} s)", flush=True)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cache_file, json.dumps({"params": params, "results": out}, indent=1))
    return out


# ----------------------------------------------------------------------------- figures

def fig3(records):
    fig, axes = plt.subplots(1, len(records), figsize=(4 * len(records), 3.4), squeeze=False)
    for ax, rec in zip(axes[0], records):
        ep = [h["epoch"] for h in rec["history"]]
        ax.semilogy(ep, [h["train_mse"] for h in rec["history"]], "o-", label="training")
        ax.semilogy(ep, [h["val_mse"] for h in rec["history"]], "s-", label="validation")
        unit = "A$^2$" if rec["label"] == "distance" else r"$\epsilon^2$"
        ax.set(xlabel="epoch", ylabel=f"MSE ({unit})", title=f"{rec['dim']}D {rec['label']}\n{rec['selection']}")
        ax.legend(fontsize=8)
    fig.suptitle("Fig. 3: loss during training (ours: per-epoch means, no running average)")
    fig.tight_layout()
    return fig


def _label_hist(ax, values):
    back = ax.twinx()
    back.hist(values, bins=60, color="lightblue", alpha=0.6)
    back.set_yticks([])
    ax.set_zorder(back.get_zorder() + 1)
    ax.patch.set_visible(False)


def fig4(records):
    fig, axes = plt.subplots(1, len(records), figsize=(4 * len(records), 3.8), squeeze=False)
    for ax, rec in zip(axes[0], records):
        _label_hist(ax, rec["train_labels"])
        ax.scatter(rec["test_true"], rec["test_pred"], s=2, alpha=0.5)
        lim = [rec["test_true"].min(), rec["test_true"].max()]
        ax.plot(lim, lim, "k--", lw=0.7)
        unit = "A" if rec["label"] == "distance" else "eps"
        ax.set(xlabel=f"true {rec['label']} ({unit})", ylabel=f"predicted ({unit})",
               title=f"{rec['dim']}D {rec['selection']}\nMAE {rec['test_mae']:.2g} {unit}")
    fig.suptitle("Fig. 4: predicted vs true on the test sets (training labels in light blue)")
    fig.tight_layout()
    return fig


def fig5(evals, rows_by_key, train_r12):
    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    r = np.linspace(1.0, 3.0, 400)
    for ax, key, tag in zip(axes.ravel(), FIG5, "abcdef"):
        if key not in evals:
            ax.set_visible(False)
            continue
        ev, row = evals[key], rows_by_key[key]
        _label_hist(ax, train_r12[key])
        ax.scatter(ev["r12"][ev["inside"]], ev["pred"][ev["inside"]], s=2, label="in training range")
        ax.scatter(ev["r12"][~ev["inside"]], ev["pred"][~ev["inside"]], s=2, c="C3", label="held out")
        if row.label == "distance":
            ax.plot(r, r, "--", color="grey", lw=0.8)
            ax.set(ylabel="predicted distance (A)")
        else:
            ax.plot(r, lj_energy(r), ":", color="grey", lw=1.0)
            ax.set(ylabel="predicted energy (eps)", ylim=(-1.1, 0.6))
        kind = "interpolation" if len(row.intervals) > 1 else "extrapolation"
        ax.set(xlabel="true distance (A)",
               title=f"({tag}) {kind}: {row.selection.describe()}\nMAE in {ev['mae_in']:.2g}, "
                     f"held out {ev['mae_out']:.2g} ({ev['ratio_out_in']:.0f}x)")
        ax.legend(fontsize=7, markerscale=4)
    fig.suptitle("Fig. 5: 2-D models on dimers over the whole 1-3 A range (training distances in light blue)")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    budget_key = budget_name(args)
    b = BUDGETS[budget_key]
    cache = Path(args.cache_dir)
    ckpt_root = cache / "checkpoints" / f"cnnas_dimers_{budget_key}_seed{args.seed}"
    wanted = set(args.rows or [r.key for r in ROWS] + ["baselines"])
    rows = [r for r in ROWS if r.key in wanted]
    rows_by_key = {r.key: r for r in ROWS}
    progress = not args.quick

    out = ResultsWriter(results_name("cnnas_dimers", budget_key), root=args.out, seed=args.seed, budget=budget_key,
                        data_source="generated: random dimers in a 10 A box (tfatoms.data.dimers)",
                        reference_method=DIMER_REFERENCE,
                        protocol="CNNAS sec. 2.2-3.2; budget " + json.dumps({k: v for k, v in b.items()}))
    eval_data = None
    if any(k in wanted for k in FIG5):
        eval_data = dimer_dataset(cache / "dimers" / f"2d_eval_1_3_n{b['n_eval']}_s{args.seed}.h5", b["n_eval"], 2,
                                  Selection("distance", ((1.0, 3.0),)), seed=row_seed(args.seed, "fig5_eval"))
    records, evals, train_r12 = {}, {}, {}
    t_start = time.perf_counter()
    for row in rows:
        rec, trainer, plan = train_row(row, b, args.seed, cache, ckpt_root, progress)
        records[row.key] = rec
        if eval_data is not None and row.key in FIG5:
            evals[row.key] = evaluate_full_range(trainer, plan, row, eval_data, b["batch"])
            train_r12[row.key] = rec["train_r12"]
            ev = evals[row.key]
            print(f"   whole 1-3 A range: MAE in range {ev['mae_in']:.3g}, held out {ev['mae_out']:.3g} "
                  f"({ev['ratio_out_in']:.1f}x)" + (f", saturation ratio {ev['saturation_ratio']:.2f}"
                                                     if "saturation_ratio" in ev else ""), flush=True)
        keras.backend.clear_session()
    baselines = None
    if "baselines" in wanted:
        row = rows_by_key[BASELINE_ROW]
        plan = row_plan(row, b)
        data = load_row_data(row, plan, args.seed, cache)
        print(f"== baselines on {row.selection.describe()}, {plan['grid']}^2 images", flush=True)
        baselines = run_baselines(data, data.split(args.seed), b, args.seed,
                                  cache / "checkpoints" / "cnnas_dimers_baselines")
    cnn_seconds = time.perf_counter() - t_start

    # ------------------------------------------------------------------ table
    for row in rows:
        rec = records[row.key]
        desc = f"{rec['grid']}^{row.dim}, {rec['n_images']:,} images, {rec['epochs']} epochs"
        study = f" [grid study, paper's {row.grid}x{row.grid}]" if row.group == "grid" else ""
        out.add_row(f"{row.dim}D {row.selection.describe()}{study}",
                    rec["test_mae"], row.unit, paper=row.reference, note=desc, metric=f"test_mae.{row.key}")
        out.metric(f"val_mse.{row.key}", rec["val_mse"])
        out.metric(f"train_images_per_s.{row.key}", rec["train_images_per_s"])
    if baselines is not None:
        desc = (f"{baselines['grid']}^2 raw pixels, {baselines['n_fit']:,} fit / {baselines['n_test']:,} test")
        rf_note = f"{b['rf_trees']} trees, max_features {b['rf_max_features']}; " + desc
        out.add_row("baseline random forest, 1-2 A", baselines["random_forest"]["mae"], "A",
                    paper="cnnas/baseline/random_forest/mae", note=rf_note, metric="baseline_mae.random_forest")
        out.add_row("baseline KRR linear, 1-2 A", baselines["krr_linear"]["mae"], "A",
                    paper="cnnas/baseline/krr_linear/mae", note="alpha 1; " + desc, metric="baseline_mae.krr_linear")
        best_g = min((1, 2, 4, 16), key=lambda g: baselines[f"krr_gaussian_gamma{g}"]["mae"])
        out.add_row("baseline KRR Gaussian, 1-2 A", baselines[f"krr_gaussian_gamma{best_g}"]["mae"], "A",
                    paper="cnnas/baseline/krr_gaussian/mae", note=f"best of gamma 1, 2, 4, 16 (gamma {best_g}); "
                    + desc, metric="baseline_mae.krr_gaussian")
        out.add_row("baseline MLP 2x10 ReLU, 1-2 A", baselines["mlp"]["mae"], "A", paper="cnnas/baseline/mlp/mae",
                    note="Adam 1e-3, 200 epochs; " + desc, metric="baseline_mae.mlp")
        for g in (1, 2, 4, 16):
            out.metric(f"baseline_mae.krr_gaussian_gamma{g}", baselines[f"krr_gaussian_gamma{g}"]["mae"])
        if BASELINE_ROW in records:
            cnn = records[BASELINE_ROW]["test_mae"]
            worst_ratio = min(v["mae"] for k, v in baselines.items() if isinstance(v, dict)) / cnn
            out.add_row("best baseline MAE / CNN MAE, 1-2 A", worst_ratio, "x", paper=1.68e-2 / 9.99e-4,
                        note="paper: random forest 0.0168 / CNN 9.99e-4 A", metric="baseline_over_cnn")
    for key, ev in evals.items():
        row = rows_by_key[key]
        kind = "interpolation" if len(row.intervals) > 1 else "extrapolation"
        out.add_row(f"{kind} {row.selection.describe()}: held-out / in-range MAE", ev["ratio_out_in"], "x",
                    paper=(3.43e-2 / 3.52e-3 if key == "distance_2d_interp" else None),
                    note=f"2-D model on {len(ev['r12']):,} dimers over 1-3 A; MAE in {ev['mae_in']:.3g}, "
                         f"held out {ev['mae_out']:.3g}" + (" (paper: 3.43e-2 A, '1070 % increase')"
                                                            if key == "distance_2d_interp" else ""),
                    metric=f"heldout_over_inrange.{key}")
        if "saturation_ratio" in ev:
            out.add_row(f"saturation {row.selection.describe()}: |pred - edge| / |true - edge|",
                        ev["saturation_ratio"], "", note="medians over held-out dimers more than 25 % of the "
                        "training range beyond its edge; 0 = predictions stuck at the edge, 1 = correct",
                        metric=f"saturation_ratio.{key}")
    out.metric("wall_seconds_training_and_baselines", cnn_seconds)

    # ------------------------------------------------------------------ figures and per-row details
    if all(k in records for k in FIG3):
        out.save_figure(fig3([records[k] for k in FIG3]), "fig3_loss_curves")
    if all(k in records for k in FIG4):
        out.save_figure(fig4([records[k] for k in FIG4]), "fig4_parity")
    if evals:
        out.save_figure(fig5(evals, rows_by_key, train_r12), "fig5_interp_extrap")
    buf = io.StringIO()
    cols = ["key", "dim", "label", "selection", "grid", "n_images", "n_train", "epochs", "steps", "best_epoch",
            "test_mae", "test_rmse", "val_mse", "train_seconds", "train_images_per_s"]
    w = csv.DictWriter(buf, cols, extrasaction="ignore")
    w.writeheader()
    for rec in records.values():
        w.writerow(rec)
    atomic_write(out.dir / "rows.csv", buf.getvalue())
    details = {"baselines": baselines,
               "fig5": {k: {m: v for m, v in ev.items() if not isinstance(v, np.ndarray)} for k, ev in evals.items()}}
    atomic_write(out.dir / "details.json", json.dumps(details, indent=1))
    out.extra["budget_parameters"] = b
    out.finish()
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
