"""One QM9 training run as the thesis does it, shared by ``reproductions/schnet_qm9.py`` and ``dtnn_qm9.py``.

:func:`run_qm9_model` takes a property, a split and a model factory; it scales the
outputs from the training set (thesis sec. 3.4: ``E_mu``, ``E_sigma`` of the
per-atom target for sum pooling, of the target itself for mean pooling), trains
with :class:`BatchTrainer` (resumable), restores the best validation epoch and
returns test predictions in the thesis' units (Table A.1).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from tfatoms._io import write_json
from tfatoms.data.qm9 import PROPERTIES, QM9, QM9PACK_MOLECULES, qm9_split
from tfatoms.representations.padded import MoleculeBatches
from tfatoms.train.distribute import strategy_scope
from tfatoms.train.trainer import (BatchTrainer, TrainingResult, budget_learning_rate,
                                             thesis_learning_rate)

#: Molecules QM9 keeps for testing after the thesis' 110,000 training + 10,000 validation molecules.
THESIS_N_TRAIN, THESIS_N_VAL = 110_000, 10_000


@dataclass(frozen=True)
class Budget:
    """Training budget: validation/test sizes, steps as a function of ``n_train``, learning rate.

    ``lr=(initial, final)`` is a cosine decay over the run; ``None`` is the thesis'
    Adam 1e-3 decayed by 0.96 every 100,000 steps (SchNet, sec. 4.4). With
    ``momentum`` set the optimizer is SGD with that momentum instead of Adam
    (DTNN, sec. 3.5: momentum 0.9). ``n_test=None`` tests on the
    molecules the thesis split leaves (``len(QM9) - 120,000`` = 10,831).
    """
    n_val: int
    n_test: int | None
    steps: Callable[[int], int]
    lr: tuple[float, float] | None
    time_limit_s: float | None
    momentum: float | None = None
    patience: int | None = None
    batch_size: int = 32

    def describe(self, sizes, max_steps=None, time_limit_min=None) -> str:
        steps = {n: max_steps or self.steps(n) for n in sizes}
        opt = "Adam" if self.momentum is None else f"SGD momentum {self.momentum:g}"
        lr = ("Adam 1e-3 x 0.96 per 100k steps (thesis)" if self.lr is None
              else f"{opt}, cosine {self.lr[0]:g} -> {self.lr[1]:g}" if self.lr[0] != self.lr[1]
              else f"{opt}, lr {self.lr[0]:g}")
        limit = time_limit_min * 60 if time_limit_min else self.time_limit_s
        return (f"batch {self.batch_size}, {lr}, steps {steps}, validation {self.n_val} molecules each epoch, "
                f"best epoch kept" + (f", time limit {limit / 60:.0f} min per model" if limit else ""))


def max_n_train(budget: Budget, n_molecules: int = QM9PACK_MOLECULES) -> int:
    """Largest ``n_train`` :func:`thesis_split` accepts: what 10,000 validation and the test molecules leave."""
    n_test = budget.n_test if budget.n_test is not None else n_molecules - THESIS_N_TRAIN - THESIS_N_VAL
    return n_molecules - THESIS_N_VAL - n_test


def check_arguments(parser, args, budget: Budget):
    """Reject ``--n-train`` outside 1..:func:`max_n_train` with ``parser.error`` before any data is loaded.

    The per-value checks (``--seed``, ``--max-steps``, ``--time-limit``, ``--interactions``) are the
    argparse types of :mod:`tfatoms.reproduce.cli`; this one depends on the budget.
    """
    limit = max_n_train(budget)
    for n in args.n_train or []:
        if not 1 <= n <= limit:
            parser.error(f"--n-train must be between 1 and {limit:,} (QM9 has {QM9PACK_MOLECULES:,} molecules, "
                         f"10,000 are kept for validation and the rest for testing), got {n}")


def thesis_split(n_molecules: int, n_train: int, budget: Budget, seed: int) -> dict[str, np.ndarray]:
    """Validation first ``budget.n_val`` of the thesis' 10,000, test the last molecules of the permutation."""
    n_test = budget.n_test if budget.n_test is not None else n_molecules - THESIS_N_TRAIN - THESIS_N_VAL
    if n_train > n_molecules - THESIS_N_VAL - n_test:
        raise ValueError(f"n_train={n_train} leaves no room for 10,000 validation and {n_test} test molecules")
    split = qm9_split(n_molecules, n_train, THESIS_N_VAL, n_test=n_test, seed=seed)
    split["val"] = split["val"][:budget.n_val]
    return split


def molecule_batches(data: QM9, indices, targets=None, batch_size: int = 32, cutoff=None) -> MoleculeBatches:
    """Padded batches of the molecules ``indices`` of ``data`` (targets in package units)."""
    sub = data.subset(indices)
    return MoleculeBatches(sub.numbers, sub.positions, sub.offsets, targets, batch_size=batch_size, cutoff=cutoff)


def output_scaling(targets: np.ndarray, n_atoms: np.ndarray, aggregation: str) -> tuple[float, float]:
    """``(E_mu, E_sigma)`` of thesis sec. 3.4: of the per-atom target (sum pooling) or the target (mean)."""
    per = targets / n_atoms if aggregation == "sum" else targets
    return float(per.mean()), float(per.std(ddof=1))


@dataclass
class QM9Run:
    prop: str
    n_train: int
    result: TrainingResult
    n_params: int
    test_true_table: np.ndarray
    test_pred_table: np.ndarray
    val_mae_table: float
    train_molecules_per_s: float
    trainer: BatchTrainer

    def predict_table(self, data: QM9, indices) -> np.ndarray:
        """Predictions of the trained model for molecules ``indices`` of ``data``, in table units (atomization)."""
        pred = self.trainer.predict(molecule_batches(data, indices))
        return pred * PROPERTIES[self.prop].to_table

    @property
    def test_mae_table(self) -> float:
        return float(np.mean(np.abs(self.test_pred_table - self.test_true_table)))


def run_qm9_model(data: QM9, prop: str, split: dict, budget: Budget, make_model, model_name: str,
                  checkpoint_root, seed: int = 0, max_steps: int | None = None,
                  time_limit_min: float | None = None, jit_compile: bool = True, progress: bool = True,
                  tag: str = "", strategy=None) -> QM9Run:
    """Train ``make_model(aggregation, e_mu, e_sigma)`` on ``prop`` and evaluate it on the test split.

    Checkpoints go to ``checkpoint_root/<model>_<prop>_n<n_train>_<steps>_<lr>_seed<seed><tag>``
    so a rerun with the same settings resumes (or only evaluates, when finished, and says so).
    ``progress`` prints what is trained, a bar over each epoch's steps and a line per epoch.
    ``strategy``: a ``tf.distribute`` strategy to train data-parallel under (:mod:`tfatoms.train.distribute`);
    only its chief writes the checkpoint and ``test_summary.json``.
    """
    spec = PROPERTIES[prop]
    y = data.target(prop, atomization=True)
    n_atoms = data.n_atoms
    train_idx, val_idx, test_idx = split["train"], split["val"], split["test"]
    e_mu, e_sigma = output_scaling(y[train_idx], n_atoms[train_idx], spec.aggregation)
    steps = max_steps or budget.steps(len(train_idx))
    lr_tag = "thesis" if budget.lr is None else f"cos{budget.lr[0]:g}-{budget.lr[1]:g}"
    ckpt = Path(checkpoint_root) / f"{model_name}_{prop}_n{len(train_idx)}_s{steps}_{lr_tag}_seed{seed}{tag}"
    with strategy_scope(strategy):
        model = make_model(spec.aggregation, e_mu, e_sigma)
        lr = thesis_learning_rate() if budget.lr is None else budget_learning_rate(*budget.lr, steps)
        optimizer = None if budget.momentum is None else keras.optimizers.SGD(lr, momentum=budget.momentum)
    trainer = BatchTrainer(model, learning_rate=lr, optimizer=optimizer, jit_compile=jit_compile, strategy=strategy)
    train = molecule_batches(data, train_idx, y[train_idx], budget.batch_size)
    val = molecule_batches(data, val_idx, y[val_idx], budget.batch_size)
    limit = time_limit_min * 60 if time_limit_min else budget.time_limit_s
    if progress:
        print(f"{model_name} {prop}, n_train={len(train_idx)}: {steps} steps, checkpoints in {ckpt}"
              + (" (the first steps compile the train step with XLA)" if jit_compile else ""), flush=True)
    result = trainer.fit(train, val, ckpt, max_steps=steps, patience=budget.patience, time_limit_s=limit,
                         seed=seed, progress=progress)
    test = molecule_batches(data, test_idx, y[test_idx], budget.batch_size)
    pred = trainer.predict(test)
    val_mae = result.best_val_mae * spec.to_table
    seconds = max(result.seconds, 1e-9)
    run = QM9Run(prop=prop, n_train=len(train_idx), result=result, n_params=int(model.count_params()),
                 test_true_table=y[test_idx] * spec.to_table, test_pred_table=pred * spec.to_table,
                 val_mae_table=val_mae,
                 train_molecules_per_s=result.steps * budget.batch_size / seconds, trainer=trainer)
    if trainer.chief:
        write_json(ckpt / "test_summary.json",
                   {"prop": prop, "n_train": len(train_idx), "test_mae_table_unit": run.test_mae_table,
                    "unit": spec.table_unit, "n_test": len(test_idx), "steps": result.steps,
                    "seconds": result.seconds})
    return run
