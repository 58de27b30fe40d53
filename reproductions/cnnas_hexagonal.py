"""CNNAS on the hexagonal sheets: CNNAS paper sec. 2.2-2.3 and 3.3 (Table 1's last row, Figs. 6-7) and the poster's
independent-MD test (6.85 meV/atom).

Data (generated; the paper's VASP PBE set cannot be had offline): the CNNAS sec. 2.2 protocol
(``tfatoms.data.hexagonal``, the dataset ``ednn_hexagonal.py`` uses): graphene, hBN and the graphene-hBN
heterostructure in the 12.53 x 13.02 A cell, each pristine, with a vacancy and with a Stone-Wales defect (nine
structures), relaxed, then restarted 0.15 ps runs (550 steps of 11.3 a.u.) of 1000 K MD with GFN1-xTB (tblite), z
fixed, every step a frame (the default budget's 9,900 frames are committed as
``reproductions/data/hexagonal_gfn1xtb_default.npz``). Splits as the papers (``Frames``, ``split="paper"``): the
frames of the first run(s) of every structure at random (seeded), 70 % train, 10 % validation, 20 % test, like the
paper's random 70/30 split of correlated MD frames (the poster: "this data set is correlated with the training
set"); the last run of each structure is held out whole as an independent trajectory (the poster's test), started
from the previous run's last frame, at its own random translation and velocities. GFN1-xTB is not the paper's PBE:
the numbers below are this reference's.

Model: CNNAS "Network 2" (``tfatoms.models.cnnas``: Network 1 without its third reducing convolution, 12
convolutions, FC 1024) applied with shared weights to four shifted and wrapped copies of each image (shifts 0 and
n/2 in x and y, so every cell boundary lies at the centre of one copy, sec. 2.3), their four 1024-feature vectors
combined by FC 1024 and FC 1; MSE on the total energy, Adam. Images: Gaussians of gamma = 0.2 A, height Z (eq. 1),
periodic, over the whole cell.

Grid: 128 x 128 in the default budget, not the paper's 256 x 256. Measured on this machine (2 cores, shared with
another job; batch 16, mean of 3-4 steps after the traced first one, a throwaway timing script of
``shifted_copies_network`` with ``BatchTrainer``'s train step): 1.00 s per training step at 128 x 128 (37.9 M
weights), 5.97 s at 256 x 256 (138.5 M weights, mostly the FC layer on 64 x 64 x 32 features). 30 minutes buy
1,800 steps (8.3 epochs of the 3,465 training frames) at 128 x 128, 300 steps (1.4 epochs) at 256 x 256. The
paper's own grid study (Table 1, dimer energies, the same data on 32/64/128 grids: 0.499, 1.70e-3, 1.06e-3 eps)
found 128 x 128 the best of the three, and no worse than 256 x 256 (1.41e-3 eps); 128 px over 12.53 A is
0.098 A per pixel, half of gamma. ``--full`` uses 256 x 256; ``--grid`` sets any even size.

As in ``ednn_hexagonal.py`` (see there why): the network learns the energy less a per-element reference
(``sum_i mu_{Z_i}``, the least-squares fit of the training energies to the atom counts, added back to every
prediction), and it trains on the frames as they are; ``--translate`` translates every training batch at random
instead. The pilot there (640 training frames at 128 x 128 px, 200 steps): with random translations the CNN stayed
at the mean predictor at learning rates 2e-4 and 1e-3; without, it learned the test frames but keyed on where the
lattice sits in the cell, worse than the mean on the translated independent runs. The paper's 60 runs per
structure sat at 60 random translations; the default budget's two runs at two, one of them the independent run.

Outputs (reproductions/results/cnnas_hexagonal[_<budget>]/):
  * table.md: Table 1's last row on the random-split test frames (as the paper): MAE of the total energy (eV,
    next to 0.0119 eV), per atom (next to 0.198 meV/atom), maximum error per atom (next to 16.1 meV/atom), MSE
    (next to 3.11e-4 eV^2, the paper's validation MSE at epoch 500); the same MAEs on the independent runs (the
    last run of all nine structures); the mean predictor, the per-element-reference predictor and the
    per-structure-mean predictor; the reference's spread (all test frames and within one structure's
    trajectory); the grid used; the test MAE per area next to the 2.529 meV/A^2 EDNN sec. 3.2.1 quotes for this
    paper's (non-EDNN) network.
  * The poster's test (CNNAS sec. 3.3, Fig. 7): the independent hBN trajectory (the hbn_pristine independent run),
    the energy predicted every 100 MD steps: MAE per atom next to 6.85 meV/atom, maximum next to 38.8 meV/atom; and
    the same over every frame of that run. The paper's run was 5 ps at 20.7 a.u. (about 100 points); the
    independent run here is 0.15 ps, 550 steps, so 5 points (steps 100 ... 500).
  * per_structure.md: test MAE per structure (eV, meV/atom), maximum, mean signed error, the reference's std, and
    the MAE per atom on the structure's independent run.
  * fig6_training.png: (left) training and validation loss per epoch, (right) true minus predicted energy per atom
    on the test frames against the true energy per atom, over the distribution of the training energies (Fig. 6).
  * fig7_hbn_md.png: true and predicted energy per atom along the independent hBN trajectory every 100 steps, and
    their difference (Fig. 7).

Budgets:
  --quick   seconds of data (graphene and hBN with a vacancy, 2 runs of 8 steps), 64 x 64, 6 steps (tests); the
            poster's test on the hBN structure present (hbn_vacancy), every 2nd step.
  default   the data budget "default" of tfatoms.data.hexagonal (9,900 frames: 3,465 train, 495 validation, 990
            test, 4,950 independent; ~50 min of xTB on 2 workers, shared with ednn_hexagonal.py), 128 x 128,
            batch 16, Adam 2e-4 cosine to 1e-6, 1,800 steps (~8.3 epochs): about 30 min of training (1.0 s per
            step measured), plus an estimated 1 min of per-epoch validation and 2 min of test and independent-run
            predictions, on 2 cores after the data.
  --full    the paper's data (60 runs, 9 ps per structure, 297,000 frames; weeks of xTB on 2 cores) and protocol:
            256 x 256, Adam 1e-5 for 300 epochs, then 1e-6 for 200 (sec. 2.3); batch 100 (the CNNAS paper prints
            none; EDNN Table 1 trains the same group's hexagonal-sheet set with 100). Needs GPUs.

    python reproductions/cnnas_hexagonal.py [--quick | --full] [--workers 2] [--grid 128] [--max-steps N] [--translate]

Data generation and training resume after an interruption (under --cache-dir).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from tfatoms.reproduce.cli import (add_hexagonal_data_arguments, budget_name, positive, reproduction_parser,
                                  results_name)

SCRIPT = "cnnas_hexagonal"
BUDGETS = {
    "quick": dict(data="quick", grid=64, batch=4, lr=2e-4, max_steps=6, epochs=None, poster=("hbn_vacancy", 2)),
    "default": dict(data="default", grid=128, batch=16, lr=2e-4, max_steps=1800, epochs=None,
                    poster=("hbn_pristine", 100)),
    "full": dict(data="full", grid=256, batch=100, lr=1e-5, lr_drop=(300, 1e-6), max_steps=None, epochs=500,
                 poster=("hbn_pristine", 100)),
}


def even(text: str) -> int:
    value = positive(int)(text)
    if value % 2:
        import argparse

        raise argparse.ArgumentTypeError(f"the four shifted copies need an even grid, got {value}")
    return value


def parse_args(argv=None):
    p, _ = reproduction_parser(__doc__, SCRIPT, "the paper's data (60 runs per structure), 256 x 256 and protocol")
    add_hexagonal_data_arguments(p)
    p.add_argument("--grid", type=even, help="image pixels per side (default: the budget's, 128; --full 256)")
    return p.parse_args(argv)


if __name__ == "__main__":
    parse_args()            # --help and bad switches answer before TensorFlow loads

import tfatoms._tensorflow  # noqa: E402,F401  (TensorFlow without its start-up log lines)
import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfatoms.data.hexagonal import DATA_BUDGETS, PAPER_TIMESTEP_FS  # noqa: E402
from tfatoms.models.cnnas import shifted_copies_network  # noqa: E402
from tfatoms.reproduce import ResultsWriter, atomic_write  # noqa: E402
from tfatoms.reproduce.hexagonal_runs import (MEV, Frames, atom_reference, split_frames, errors,  # noqa: E402
                                              output_scaling)
from tfatoms.train.trainer import BatchTrainer, budget_learning_rate  # noqa: E402


def poster_frames(frames: Frames, structure: str, every: int) -> np.ndarray:
    """The poster's test frames: the independent run (the last MD run, :class:`Frames` ``"independent"``) of
    ``structure`` at the MD steps that are multiples of ``every``, in MD order (CNNAS sec. 3.3: the hBN MD "for every
    100 steps")."""
    if structure not in frames.names:
        raise ValueError(f"structure {structure!r} is not in the dataset (it holds {frames.names})")
    step = np.asarray(frames.data.properties["md_step"])
    idx = np.flatnonzero((frames.structure == frames.names.index(structure)) & (frames.split == 3)
                         & (step % int(every) == 0))
    if not len(idx):
        raise ValueError(f"{structure} has no independent-run frame at a multiple of {every} MD steps")
    return idx[np.argsort(step[idx], kind="stable")]


def learning_rate(b: dict, n_batches: int, max_steps: int):
    """Adam's learning rate: the paper's step drop (``lr`` for ``lr_drop[0]`` epochs, then ``lr_drop[1]``) where the
    budget has one (--full), else a cosine from ``lr`` to 1e-6 over ``max_steps``."""
    if b.get("lr_drop"):
        epochs, low = b["lr_drop"]
        return keras.optimizers.schedules.PiecewiseConstantDecay([int(epochs) * int(n_batches)], [b["lr"], low])
    return budget_learning_rate(b["lr"], 1e-6, max_steps)


def per_atom(pred, true, n_atoms, area) -> dict:
    """:func:`~tfatoms.reproduce.hexagonal_runs.errors` (per area, per atom, MSE) with the MAE of the total energy
    (eV) and the maximum and mean signed error per atom (meV/atom), Table 1's and Fig. 7's measures."""
    err = np.asarray(pred, float) - np.asarray(true, float)
    return dict(errors(pred, true, n_atoms, area), max_atom=float(np.max(np.abs(err) / n_atoms) * MEV),
                mae_eV=float(np.mean(np.abs(err))), mean_signed_atom=float(np.mean(err / n_atoms) * MEV))


# ---------------------------------------------------------------------------------------------------- figures
def fig6(history, lr_drop_epoch, true_atom, pred_atom, train_atom):
    """(left) training and validation MSE per epoch, (right) true - predicted per atom against the true energy per
    atom on the test frames, over the training energies' distribution (Fig. 6)."""
    fig, ax = plt.subplots(1, 2, figsize=(10, 4.2))
    ep = [h["epoch"] for h in history]
    ax[0].semilogy(ep, [h["train_mse"] for h in history], "o-", ms=3, label="training (mean over the epoch)")
    ax[0].semilogy(ep, [h["val_mse"] for h in history], "s-", ms=3, label="validation")
    if lr_drop_epoch is not None and ep and lr_drop_epoch < ep[-1]:
        ax[0].axvline(lr_drop_epoch, color="0.5", ls="--", lw=0.8, label="learning rate 1e-5 -> 1e-6")
    ax[0].set(xlabel="epoch", ylabel="MSE (eV$^2$)", title="(a) loss, cf. Fig. 6 left")
    ax[0].legend(fontsize=8)
    hist = ax[1].twinx()
    hist.hist(train_atom, bins=80, color="lightblue", alpha=0.6)
    hist.set_yticks([])
    ax[1].set_zorder(hist.get_zorder() + 1)
    ax[1].patch.set_visible(False)
    ax[1].scatter(true_atom, (true_atom - pred_atom) * MEV, s=3, alpha=0.5, color="C0")
    ax[1].axhline(0, color="k", lw=0.6)
    ax[1].set(xlabel="GFN1-xTB energy per atom (eV)", ylabel="true - predicted per atom (meV)",
              title="(b) test frames over the training distribution, cf. Fig. 6 right")
    return fig


def fig7(t_all, true_all, pred_all, sel, structure, every):
    """Energy per atom along the independent trajectory: true and predicted every ``every`` steps (markers; every
    frame as thin lines), and their difference (Fig. 7)."""
    fig, ax = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    ax[0].plot(t_all, true_all, "-", color="C0", lw=0.6, alpha=0.5)
    ax[0].plot(t_all, pred_all, "-", color="C1", lw=0.6, alpha=0.5)
    ax[0].plot(t_all[sel], true_all[sel], "o", color="C0", label="GFN1-xTB")
    ax[0].plot(t_all[sel], pred_all[sel], "s", color="C1", label="CNNAS")
    ax[0].set(ylabel="energy per atom (eV)", title=f"{structure} independent run: every {every} MD steps (markers), "
                                                     f"every step (lines)")
    ax[0].legend(fontsize=8)
    ax[1].plot(t_all, (true_all - pred_all) * MEV, "-", color="0.6", lw=0.6)
    ax[1].plot(t_all[sel], (true_all[sel] - pred_all[sel]) * MEV, "o", color="C3")
    ax[1].axhline(0, color="k", lw=0.6)
    ax[1].set(xlabel="time (fs)", ylabel="true - predicted per atom (meV)")
    return fig


# ---------------------------------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    budget_key = budget_name(args)
    b = BUDGETS[budget_key]
    grid = args.grid or b["grid"]
    cache = Path(args.cache_dir)
    frames, idx = split_frames(args, b["data"], seed=args.seed, progress=not args.quick)
    data = frames.data
    mu = atom_reference(frames, idx["train"])
    baseline = frames.counts() @ mu
    residual = frames.energy - baseline
    print("per-element reference energies (eV): " + ", ".join(f"{e} {m:.4f}" for e, m in zip("BCN", mu)), flush=True)

    pixels = (grid, grid)
    scaling = output_scaling(residual[idx["train"]], 1)               # one output per image
    keras.utils.set_random_seed(args.seed)
    model = shifted_copies_network(grid, **scaling)
    train = frames.images(idx["train"], b["batch"], augment_seed=args.seed if args.translate else None,
                          targets=residual[idx["train"]], pixels=pixels)
    val = frames.images(idx["val"], b["batch"], targets=residual[idx["val"]], pixels=pixels)
    max_steps = args.max_steps or b["max_steps"] or b["epochs"] * train.n_batches()
    trainer = BatchTrainer(model, learning_rate=learning_rate(b, train.n_batches(), max_steps))
    ckpt = (cache / "runs" / SCRIPT / f"{budget_key}_seed{args.seed}"
            / f"network2_shifted_grid{grid}{'_translate' if args.translate else ''}")
    result = trainer.fit(train, val, ckpt, max_steps=max_steps, seed=args.seed, progress=not args.quick,
                         time_limit_s=None if args.time_limit is None else 60 * args.time_limit)

    pred = {}
    t0 = time.perf_counter()
    pred["test"] = trainer.predict(frames.images(idx["test"], b["batch"], pixels=pixels)) + baseline[idx["test"]]
    predict_s = (time.perf_counter() - t0) / len(idx["test"])
    ind = idx["independent"]
    pred["independent"] = trainer.predict(frames.images(ind, b["batch"], pixels=pixels)) + baseline[ind]
    pred_all = np.full(len(frames.energy), np.nan)
    for s in ("test", "independent"):
        pred_all[idx[s]] = pred[s]
    true, n_test_atoms = frames.energy[idx["test"]], frames.n_atoms[idx["test"]]
    e_test = per_atom(pred["test"], true, n_test_atoms, frames.area)
    true_ind, n_ind_atoms = frames.energy[ind], frames.n_atoms[ind]
    e_ind = per_atom(pred["independent"], true_ind, n_ind_atoms, frames.area)

    d = DATA_BUDGETS[b["data"]]
    lr_text = (f"Adam {b['lr']:g} for {b['lr_drop'][0]} epochs, then {b['lr_drop'][1]:g}" if b.get("lr_drop")
               else f"Adam {b['lr']:g} cosine to 1e-6")
    protocol = (f"{grid} x {grid} images, {len(idx['train'])} training frames, batch {b['batch']}, {lr_text}, "
                f"{result.steps} steps ({result.epochs} epochs)"
                f"{', random translations of the training frames' if args.translate else ''}")
    out = ResultsWriter(results_name(SCRIPT, budget_key), root=args.out, seed=args.seed, budget=budget_key,
                        protocol=protocol,
                        argv=[f"reproductions/{SCRIPT}.py", *(sys.argv[1:] if argv is None else argv)],
                        data_source=(f"generated: {len(frames.names)} hexagonal sheets (CNNAS sec. 2.2 protocol), "
                                     f"{d['runs']} restarted runs of {d['steps_per_run']} steps each at 1000 K, "
                                     f"{len(data)} frames; random 70/10/20 split of the first runs, the last run "
                                     f"of each structure held out as an independent trajectory"),
                        reference_method="GFN1-xTB (tblite) energies")
    out.extra["training"] = dict(steps=result.steps, epochs=result.epochs, best_epoch=result.best_epoch,
                                 seconds=result.seconds, stopped=result.stopped, history=result.history,
                                 grid=grid, weights=int(model.count_params()), output_scaling=scaling)
    n_test = (f"{len(true)} test frames (a random 20 % of the first runs' frames, correlated with the training "
              f"frames as the paper's)")
    out.add_row("image grid (pixels per side)", grid, "px", paper=256,
                note="CNNAS grid study (Table 1, dimers): 128 the best of 32/64/128, as good as 256"
                     if grid != 256 else "the paper's grid")
    out.add_row("Table 1: test MAE of the total energy", e_test["mae_eV"], "eV", paper="cnnas/hexagonal/mae_total",
                metric="test.mae_eV", note=n_test + "; the paper's test: a random 30 % of its frames")
    out.add_row("Table 1: test MAE per atom", e_test["mae_atom"], "meV/atom", paper="cnnas/hexagonal/mae_atom",
                metric="test.mae_meV_atom")
    out.add_row("Table 1: test maximum |error| per atom", e_test["max_atom"], "meV/atom",
                paper="cnnas/hexagonal/max_error_atom", metric="test.max_meV_atom")
    out.add_row("Table 1: test MSE of the total energy", e_test["mse_eV2"], "eV^2", paper="cnnas/hexagonal/mse_val",
                metric="test.mse_eV2",
                note=f"the paper's: validation MSE at epoch 500; here the weights of the best validation MAE "
                     f"({len(idx['val'])} validation frames), epoch {result.best_epoch} of {result.epochs}")
    out.add_row("test MAE per area", e_test["mae_area"], "meV/A^2", paper="ednn/hexagonal/mae_whole_image",
                metric="test.mae_meV_A2",
                note="EDNN sec. 3.2.1 cites CNNAS (its ref. 42) for a traditional network's 2.529 meV/A^2 = 6.9 "
                     "meV/atom in the 163 A^2 cell, the poster's independent-MD error (6.85)")
    out.add_row("test mean signed error per atom", e_test["mean_signed_atom"], "meV/atom",
                metric="test.mean_signed_meV_atom")
    n_ind = (f"{len(ind)} frames: the last run of each of the {len(set(frames.structure[ind].tolist()))} "
             f"structures, an independent trajectory at its own random translation")
    out.add_row("MAE of the total energy on the independent runs", e_ind["mae_eV"], "eV",
                metric="independent.mae_eV", note=n_ind)
    out.add_row("MAE per atom on the independent runs", e_ind["mae_atom"], "meV/atom",
                metric="independent.mae_meV_atom")
    out.add_row("maximum |error| per atom on the independent runs", e_ind["max_atom"], "meV/atom",
                metric="independent.max_meV_atom")
    out.add_row("MSE of the total energy on the independent runs", e_ind["mse_eV2"], "eV^2",
                metric="independent.mse_eV2")
    out.add_row("MAE per area on the independent runs", e_ind["mae_area"], "meV/A^2",
                metric="independent.mae_meV_A2")
    out.add_row("mean signed error per atom on the independent runs", e_ind["mean_signed_atom"], "meV/atom",
                metric="independent.mean_signed_meV_atom")
    out.metric("seconds_per_frame_predict", predict_s)

    # the poster's test (CNNAS sec. 3.3, Fig. 7): an independent hBN trajectory, every `every` MD steps
    structure, every = b["poster"]
    sel = poster_frames(frames, structure, every)
    e_poster = per_atom(pred_all[sel], frames.energy[sel], frames.n_atoms[sel], frames.area)
    run = poster_frames(frames, structure, 1)
    e_run = per_atom(pred_all[run], frames.energy[run], frames.n_atoms[run], frames.area)
    steps_text = ", ".join(str(int(s)) for s in frames.data.properties["md_step"][sel][:8])
    out.add_row(f"poster's test: MAE per atom on the independent {structure} MD, every {every} steps",
                e_poster["mae_atom"], "meV/atom", paper="cnnas/hexagonal/md_mae_atom", metric="poster.mae_meV_atom",
                note=f"{len(sel)} frames (MD steps {steps_text}{' ...' if len(sel) > 8 else ''}) of the {structure} "
                     f"independent run; the paper's run: 5 ps at 20.7 a.u.")
    out.add_row(f"poster's test: maximum |error| per atom, every {every} steps", e_poster["max_atom"], "meV/atom",
                paper="cnnas/hexagonal/md_max_error_atom", metric="poster.max_meV_atom")
    out.add_row(f"poster's test, every frame of the same {structure} run: MAE per atom", e_run["mae_atom"],
                "meV/atom", paper="cnnas/hexagonal/md_mae_atom", metric="poster.all_frames.mae_meV_atom",
                note=f"{len(run)} frames, maximum {e_run['max_atom']:.2f} meV/atom")
    out.metric("poster.n_frames", len(sel))
    out.metric("poster.every_md_steps", every)

    # baselines and the reference's spread
    def test_mae(e):
        return per_atom(e, true, n_test_atoms, frames.area)["mae_atom"]

    train_e = frames.energy[idx["train"]]
    out.add_row("mean predictor test MAE per atom", test_mae(np.full(len(true), train_e.mean())), "meV/atom",
                metric="mean_predictor.mae_meV_atom", note="the training mean energy for every frame")
    comp = baseline[idx["test"]] + np.mean(residual[idx["train"]])
    out.add_row("per-element reference predictor test MAE per atom (the baseline alone)", test_mae(comp), "meV/atom",
                metric="atom_reference_predictor.mae_meV_atom",
                note="sum of mu_Z + the mean training residual; "
                     + ", ".join(f"mu_{e} {m:.3f} eV" for e, m in zip("BCN", mu)))
    s_test = frames.structure[idx["test"]]
    s_train = frames.structure[idx["train"]]
    struct_mean = {s: train_e[s_train == s].mean() if np.any(s_train == s) else np.nan
                   for s in range(len(frames.names))}
    per_struct_mean = np.array([struct_mean[s] for s in s_test])
    out.add_row("per-structure-mean predictor test MAE per atom", test_mae(per_struct_mean), "meV/atom",
                metric="structure_mean_predictor.mae_meV_atom",
                note="each structure's training mean: knows composition and defect, not the thermal motion")
    s_ind = frames.structure[ind]

    def ind_mae(e):
        return per_atom(e, true_ind, n_ind_atoms, frames.area)["mae_atom"]

    out.add_row("mean predictor MAE per atom on the independent runs", ind_mae(np.full(len(ind), train_e.mean())),
                "meV/atom", metric="mean_predictor.independent.mae_meV_atom")
    out.add_row("per-element reference predictor MAE per atom on the independent runs",
                ind_mae(baseline[ind] + np.mean(residual[idx["train"]])), "meV/atom",
                metric="atom_reference_predictor.independent.mae_meV_atom")
    out.add_row("per-structure-mean predictor MAE per atom on the independent runs",
                ind_mae(np.array([struct_mean[s] for s in s_ind])), "meV/atom",
                metric="structure_mean_predictor.independent.mae_meV_atom")
    true_atom = true / n_test_atoms
    out.add_row("reference spread: std of the energy per atom, test", np.std(true_atom) * MEV, "meV/atom",
                metric="reference.std_meV_atom.test", note="across the structures (composition dominates)")
    within = np.sqrt(np.mean([np.var(true_atom[s_test == s]) for s in np.unique(s_test)]))
    out.add_row("reference spread within one structure's trajectory (rms of the std per atom), test", within * MEV,
                "meV/atom", metric="reference.within_structure_std_meV_atom.test",
                note="the thermal fluctuation the network must resolve")

    per_structure = ["| structure | test frames | MAE eV | MAE meV/atom | max meV/atom | mean signed meV/atom | "
                     "xTB std meV/atom | independent frames | independent MAE meV/atom |",
                     "|---|---|---|---|---|---|---|---|---|"]
    for s in np.unique(np.concatenate([s_test, s_ind])):
        name = frames.names[s]
        m, mi = s_test == s, s_ind == s
        cells = ["-"] * 5
        if m.any():
            e = per_atom(pred["test"][m], true[m], n_test_atoms[m], frames.area)
            cells = [f"{e['mae_eV']:.4f}", f"{e['mae_atom']:.3f}", f"{e['max_atom']:.3f}",
                     f"{e['mean_signed_atom']:+.3f}", f"{np.std(true_atom[m]) * MEV:.3f}"]
            out.metric(f"test.mae_meV_atom.{name}", e["mae_atom"])
            out.metric(f"test.mae_eV.{name}", e["mae_eV"])
        ind_cell = "-"
        if mi.any():
            ei = per_atom(pred["independent"][mi], true_ind[mi], n_ind_atoms[mi], frames.area)
            ind_cell = f"{ei['mae_atom']:.3f}"
            out.metric(f"independent.mae_meV_atom.{name}", ei["mae_atom"])
        per_structure.append(f"| {name} | {int(m.sum())} | " + " | ".join(cells) + f" | {int(mi.sum())} | {ind_cell} |")
    atomic_write(out.dir / "per_structure.md", "\n".join(per_structure) + "\n")

    out.save_figure(fig6(result.history, b["lr_drop"][0] if b.get("lr_drop") else None, true_atom,
                         pred["test"] / n_test_atoms, train_e / frames.n_atoms[idx["train"]]), "fig6_training")
    t_run = np.asarray(frames.data.properties["md_step"][run], float) * PAPER_TIMESTEP_FS
    in_run = np.flatnonzero(np.isin(run, sel))                      # both in MD order
    out.save_figure(fig7(t_run, frames.energy[run] / frames.n_atoms[run], pred_all[run] / frames.n_atoms[run],
                         in_run, structure, every), "fig7_hbn_md")
    out.extra["poster"] = dict(structure=structure, every_md_steps=every, md_step=frames.data.properties["md_step"][sel]
                               .tolist(), true_eV=frames.energy[sel].tolist(), predicted_eV=pred_all[sel].tolist())
    out.finish()
    return out


if __name__ == "__main__":
    main()
