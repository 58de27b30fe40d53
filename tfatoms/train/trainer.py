"""Training loop shared by every model trained on fixed-shape batches (SchNet, DTNN, EDNN sheets).

The data is any *batch source*
(:class:`~tfatoms.representations.batch_source.BatchSource`): ``targets`` (n,),
``len()``, ``n_batches()`` and ``batches(shuffle_seed=None)`` yielding ``(indices,
inputs, targets, weights)`` with NumPy ``inputs`` (an array or a dict of arrays)
that the model takes, and per-example ``weights`` (0 for padding):
:class:`~tfatoms.representations.padded.StructureBatches` for molecules and periodic cells
(``MoleculeBatches`` for molecules),
:class:`~tfatoms.representations.atom_images.AtomImages` for EDNN sheets.

The thesis protocol (sec. 4.4): squared loss, Adam, 32 molecules per batch,
learning rate 1e-3 decayed by 0.96 every 100,000 steps, up to 10M steps,
early stopping on the validation error, the best model kept. Here:

* one compiled train step (``tf.function``, optionally XLA) per padded batch
  batch shape of the source;
* validation MAE and MSE after every epoch; ``best.weights.h5`` holds the best model,
  ``patience`` epochs without improvement stop training;
* resume: ``state.json`` + ``last.weights.h5`` + ``last.optimizer.npz`` are
  written atomically at every epoch end, and a restarted run continues from
  the last finished epoch with the same data order (shuffling is seeded by
  epoch);
* ``time_limit_s`` ends training cleanly after the epoch that crosses it
  (budgets that must fit a session); calling ``fit`` again continues;
* ``history.jsonl``: one line per epoch.

Energy+force training (thesis ch. 5): ``BatchTrainer(model, loss=EnergyForceLoss(rho=0.01))``
wraps an energy model in :class:`~tfatoms.models.Potential` (or takes a ``Potential``),
so forces are ``-dE/dR`` by autodiff with the second-order tape kept in the train step
only; the batch source must carry forces (``StructureBatches(..., forces=...)``, keyed
targets, see :mod:`tfatoms.train.losses`; with ``EnergyForceLoss(stress_weight=...)``
also ``stress=`` of bulk cells). Validation then reports per-key metrics
(:func:`~tfatoms.train.metrics.energy_force_metrics`: energy MAE/RMSE per structure and
per atom, force component MAE/RMSE) and early stopping, the best checkpoint and
``best_val_mae`` follow ``monitor`` (default: the loss' ``combined_mae``,
``rho * energy_mae + forces_mae``; or e.g. ``"forces_mae"``, ``"energy_mae"``, ``"loss"``).
Without ``loss`` everything is as it always was (weighted MSE of one scalar, validation MAE).

Data-parallel training (:mod:`tfatoms.train.distribute`): ``BatchTrainer(model, strategy=strategy)``
with a ``tf.distribute`` strategy (``MultiWorkerMirroredStrategy`` across processes,
``MirroredStrategy`` across local GPUs) cuts every global batch of the source into one shard per
replica and sums the replicas' gradients, each replica's loss weighted by its share of the batch:
the same updates as one process with the same ``batch_size``, to float32 round-off. Only the
chief writes the checkpoint (build the model under ``strategy.scope()`` or leave it unbuilt).

Checks before any step: targets must be finite (the first bad example is named),
and the atomic numbers of the data must fit the model's ``max_z``. While ``fit``
runs it holds the lock of the checkpoint directory (:func:`tfatoms._io.exclusive`),
so a second run on it fails at once with :class:`~tfatoms._io.DirectoryInUse`.
Every file is written through :func:`tfatoms._io.atomic_path`. A checkpoint that
cannot be read, or that belongs to a model of another configuration, raises a
``ValueError`` naming the file (delete the directory to start afresh); a validation
MAE that is not finite (training diverged) raises ``FloatingPointError``.
"""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfatoms import keys
from tfatoms._io import atomic_path, exclusive, write_json
from tfatoms._validation import atomic_numbers_within, positive_int
from tfatoms.representations.neighbors import model_cutoff
from tfatoms.train.distribute import is_chief, shard, strategy_scope
from tfatoms.train.fit import load_checkpoint_weights, remove_legacy_temporaries
from tfatoms.train.losses import EnergyLoss
from tfatoms.train.metrics import energy_force_metrics, error_metrics

#: What ``monitor`` may name: the metrics of the validation set of each kind of training.
SCALAR_MONITORS = ("mae", "rmse", "median_ae", "max_ae", "mse")
KEYED_MONITORS = ("combined_mae", "loss", "energy_mae", "energy_rmse", "energy_mae_per_atom",
                  "energy_rmse_per_atom", "forces_mae", "forces_rmse", "forces_vector_mae", "stress_mae",
                  "stress_rmse")


@dataclass
class TrainingResult:
    best_val_mae: float
    best_epoch: int
    epochs: int
    steps: int
    seconds: float
    stopped: str          # "max_steps", "early_stopping", "time_limit" or "done" (already finished)
    history: list[dict]
    monitor: str = "mae"  # the validation metric best_val_mae holds (early stopping, best checkpoint)


def thesis_learning_rate(initial: float = 1e-3, decay_rate: float = 0.96, decay_steps: int = 100_000):
    """Adam learning rate of the thesis (sec. 4.4): ``initial * decay_rate ** (step / decay_steps)``."""
    return keras.optimizers.schedules.ExponentialDecay(initial, decay_steps, decay_rate)


def budget_learning_rate(initial: float, final: float, total_steps: int):
    """Cosine decay from ``initial`` to ``final`` over ``total_steps`` (for short budgets)."""
    return keras.optimizers.schedules.CosineDecay(initial, max(1, int(total_steps)), alpha=final / initial)


def _atomic_save_weights(model, path: Path):
    with atomic_path(path) as tmp:
        model.save_weights(tmp)


def check_targets(data, which: str):
    """Raise ``ValueError`` naming the first example of ``data`` whose target is NaN or infinite."""
    targets = np.asarray(data.targets, dtype=np.float64)
    bad = ~np.isfinite(targets)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{which} targets must be finite: example {k} has {targets[k]} "
                         f"({int(bad.sum())} of {len(targets)} bad); remove or fix those records before training")


def batch_tensors(batch):
    """Collated model inputs (an array or a dict of NumPy arrays) as tensors, for the compiled steps."""
    return tf.nest.map_structure(tf.convert_to_tensor, batch)


def step_tensors(batch, targets, weights):
    """``(inputs, targets, weights)`` of one batch as tensors for the train step (arrays or keyed dicts)."""
    return batch_tensors(batch), batch_tensors(targets), batch_tensors(weights)


def check_forces(data, which: str):
    """Raise ``ValueError`` if ``data`` has no forces, or naming the first structure whose forces are not finite."""
    forces = getattr(data, "forces", None)
    if forces is None:
        raise ValueError(f"{which} set has no forces, but the loss trains on forces: pass forces= to "
                         f"StructureBatches / MoleculeBatches (one (n_atoms, 3) array per structure, eV/A)")
    if hasattr(data, "check_forces"):
        data.check_forces(hint=f"every structure of a force-trained {which} set needs forces; remove or fix "
                               f"those records before training")
    elif not np.all(np.isfinite(forces)):
        raise ValueError(f"{which} forces must be finite")


def _monitor_label(monitor: str) -> str:
    return "MAE" if monitor == "mae" else monitor


class BatchTrainer:
    """Fit ``model(inputs)`` (one prediction per batch slot) to a batch source with the weighted MSE loss.

    Args:
        model: a built or unbuilt atomistic model (``call(batch, training)``), or a
            :class:`~tfatoms.models.Potential` for force training.
        learning_rate: float or Keras schedule of Adam (default: :func:`thesis_learning_rate`).
        optimizer: a Keras optimizer to use instead of Adam (``learning_rate`` is then ignored).
        jit_compile: compile the train and predict steps with XLA.
        loss: ``None`` (default) or :class:`~tfatoms.train.losses.EnergyLoss`: the weighted MSE
            of one scalar per structure, as always; :class:`~tfatoms.train.losses.EnergyForceLoss`:
            thesis eq. 5.7 on energies and forces (an energy model is then wrapped in ``Potential``;
            its weights are what the checkpoints hold).
        monitor: validation metric for early stopping and the best checkpoint (smaller is better):
            ``"mae"`` (default) for one scalar; with forces one of :data:`KEYED_MONITORS`,
            default ``"combined_mae"`` (``rho * energy_mae + forces_mae``).
        strategy: a ``tf.distribute`` strategy to train data-parallel under (default: none, one process);
            the model must be unbuilt or built under ``strategy.scope()``, and so must a given ``optimizer``.
    """

    def __init__(self, model, learning_rate=None, optimizer=None, jit_compile: bool = False, loss=None,
                 monitor: str | None = None, strategy=None):
        self.model = model
        self.strategy = strategy
        self.chief = is_chief(strategy)
        if optimizer is None:
            with strategy_scope(strategy):
                optimizer = keras.optimizers.Adam(thesis_learning_rate() if learning_rate is None else learning_rate)
        self.optimizer = optimizer
        self.jit_compile = bool(jit_compile)
        self.loss = EnergyLoss() if loss is None else loss
        self.keyed = bool(getattr(self.loss, "needs_forces", False) or getattr(self.loss, "needs_stress", False))
        self.monitor = self.loss.default_monitor if monitor is None else str(monitor)
        allowed = KEYED_MONITORS if self.keyed else SCALAR_MONITORS
        if self.monitor not in allowed:
            raise ValueError(f"monitor must be one of {list(allowed)} for {self.loss!r}, got {monitor!r}")
        if self.keyed:
            self.potential = self._potential(model)
        if strategy is not None:
            self._loss_and_grads = tf.function(self._loss_and_grads_impl, jit_compile=self.jit_compile,
                                               reduce_retracing=True)
            self._train_step = tf.function(self._distributed_step, reduce_retracing=True)
            self._gather = tf.function(self._gather_impl)
        elif self.keyed:
            self._train_step = tf.function(self._train_step_keyed, jit_compile=self.jit_compile,
                                           reduce_retracing=True)
        else:
            self._train_step = tf.function(self._train_step_impl, jit_compile=self.jit_compile,
                                           reduce_retracing=True)
        self._predict_step = tf.function(self._predict_impl, jit_compile=self.jit_compile, reduce_retracing=True)

    def _potential(self, model):
        """The model as a ``Potential`` returning what the loss needs."""
        from tfatoms.models.potential import Potential

        stress = bool(getattr(self.loss, "needs_stress", False))
        if isinstance(model, Potential):
            if not model.compute_forces or (stress and not model.compute_stress):
                raise ValueError(f"{self.loss!r} needs forces{' and stress' if stress else ''}, but the Potential "
                                 f"computes forces={model.compute_forces}, stress={model.compute_stress}")
            return model
        return Potential(model, compute_forces=True, compute_stress=stress)

    def _train_step_impl(self, batch, targets, weights):
        with tf.GradientTape() as tape:
            loss = self.loss(targets, self.model(batch, training=True), weights, batch)
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return loss

    def _train_step_keyed(self, batch, targets, weights):
        with tf.GradientTape() as tape:
            pred = self.potential(batch, training=True)   # training=True: forces keep their second-order tape
            loss = self.loss(targets, pred, weights, batch)
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return loss

    # ------------------------------------------------------------------------------ data-parallel steps
    def _loss_and_grads_impl(self, batch, targets, weights, share):
        """One replica's loss, weighted by its ``share`` of the global batch's real examples, and its gradients."""
        with tf.GradientTape() as tape:
            pred = self.potential(batch, training=True) if self.keyed else self.model(batch, training=True)
            loss = self.loss(targets, pred, weights, batch) * share
        return loss, tape.gradient(loss, self.model.trainable_variables)

    def _replica_step(self, batch, targets, weights, share):
        loss, grads = self._loss_and_grads(batch, targets, weights, share)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))   # all-reduced (summed) here
        return loss

    def _distributed_step(self, batch, targets, weights, share):
        per_replica = self.strategy.run(self._replica_step, args=(batch, targets, weights, share))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _distributed_batch(self, data, sel, shuffle_seed: int, k: int):
        """Per-replica ``(inputs, targets, weights, share)`` of global batch ``k`` (indices ``sel``): each
        replica collates its :func:`~tfatoms.train.distribute.shard`; an empty shard is one structure
        with zero weights."""
        n = self.strategy.num_replicas_in_sync

        def replica_value(ctx):
            part = shard(sel, ctx.replica_id_in_sync_group, n)
            batch, targets, weights = data.collate_training(part if len(part) else sel[:1], shuffle_seed, k)
            if not len(part):
                weights = tf.nest.map_structure(np.zeros_like, weights)
            dtype = tf.nest.flatten(weights)[0].dtype
            share = tf.constant(len(part) / len(sel), dtype)
            return (*step_tensors(batch, targets, weights), share)

        return self.strategy.experimental_distribute_values_from_function(replica_value)

    def _training_steps(self, data, shuffle_seed: int):
        """The train step's arguments for every batch of one epoch (global batches when distributed)."""
        if self.strategy is None:
            for _, batch, targets, weights in data.batches(shuffle_seed=shuffle_seed):
                yield step_tensors(batch, targets, weights)
        else:
            for k, sel in data.batch_indices(shuffle_seed):
                yield self._distributed_batch(data, sel, shuffle_seed, k)

    def _gathered(self, value: float) -> np.ndarray:
        """``value`` of every replica of the strategy, in replica order (``[value]`` without one)."""
        if self.strategy is None:
            return np.array([float(value)])
        return self._gather(tf.constant([float(value)], tf.float64)).numpy()

    def _gather_impl(self, value):
        return self.strategy.gather(self.strategy.run(tf.identity, args=(value,)), axis=0)

    def _check_restored_alike(self, ckpt: Path, state: dict):
        """Every worker must resume from the same step (one checkpoint on a filesystem they all see)."""
        if self.strategy is None:
            return
        steps = self._gathered(state["step"])
        lo, hi = steps.min(), steps.max()
        if lo != hi:
            raise ValueError(f"the workers restored different checkpoints (steps {lo:.0f} to {hi:.0f}; this one "
                             f"{state['step']} from {ckpt}): the checkpoint directory must be on a filesystem "
                             f"every worker sees, written by the chief only")

    def _predict_impl(self, batch):
        if self.keyed:
            return self.potential(batch, training=False)
        return self.model(batch, training=False)

    def _check_numbers(self, data):
        """Atomic numbers of ``data`` (if it has them) within the model's ``max_z`` (if it has one).

        Done here because an XLA-compiled step drops the model's own assertion.
        """
        max_z = getattr(self.model, "max_z", None)
        if max_z is None:
            max_z = getattr(getattr(self.model, "energy_model", None), "max_z", None)
        numbers = getattr(data, "numbers", None)
        if max_z is not None and numbers is not None:
            atomic_numbers_within(numbers, max_z, type(self.model).__name__)

    def _check_cutoff(self, data, which: str):
        """The pairs of ``data`` must be those of the model's cutoff (when the model and the data have one)."""
        if not hasattr(data, "cutoff"):
            return
        own = model_cutoff(self.model)
        if own is not None and (data.cutoff is None or abs(data.cutoff - own) > 1e-9 * own):
            raise ValueError(f"the {which} batches hold the pairs of cutoff {data.cutoff} A, but "
                             f"{type(self.model).__name__} has cutoff {own} A: build them with "
                             f"StructureBatches(..., model=model) so they take the model's cutoff")

    def predict(self, data):
        """Predictions for every example of the batch source ``data``, in its order, float64.

        One scalar per example, ``(n,)`` (or one vector, ``(n, 3)``, for per-atom force targets such as
        :class:`~tfatoms.representations.environments.AtomEnvironments`); with a force loss a dict ``{ENERGY: (n,), FORCES:
        (n_atoms_total, 3)}`` with the forces of the real atoms laid out like ``data.positions``.
        """
        self._check_numbers(data)
        if self.keyed:
            return self._predict_keyed(data)
        out = None
        for sel, batch, _, _ in data.batches():
            pred = self._predict_step(batch_tensors(batch)).numpy()
            pred = pred.reshape(len(pred), -1)
            pred = pred[:, 0] if pred.shape[1] == 1 else pred      # one scalar, or one vector (forces), per example
            if out is None:     # the model's output decides the shape, with or without targets in ``data``
                out = np.empty((len(data), *pred.shape[1:]), np.float64)
            out[sel] = pred[:len(sel)]
        return np.empty(0, np.float64) if out is None else out

    def _predict_keyed(self, data) -> dict:
        energy = np.empty(len(data), np.float64)
        forces = np.empty((int(np.sum(data.n_atoms)), 3), np.float64)
        stress = np.empty((len(data), 3, 3), np.float64) if self.potential.compute_stress else None
        for sel, batch, _, _ in data.batches():
            pred = self._predict_step(batch_tensors(batch))
            energy[sel] = pred[keys.ENERGY].numpy().reshape(-1)[:len(sel)]
            atoms = data.atom_indices(sel)
            forces[atoms] = pred[keys.FORCES].numpy()[:len(atoms)]
            if stress is not None:
                stress[sel] = pred[keys.STRESS].numpy()[:len(sel)]
        out = {keys.ENERGY: energy, keys.FORCES: forces}
        if stress is not None:
            out[keys.STRESS] = stress
        return out

    def errors(self, data) -> dict[str, float]:
        """:func:`error_metrics` of the predictions for ``data`` against its targets.

        With a force loss: :func:`energy_force_metrics`, plus ``loss`` (eq. 5.7 over the whole
        set, float64) and ``combined_mae`` (the loss' early-stopping number).
        """
        if not self.keyed:
            return error_metrics(self.predict(data), data.targets)
        pred = self.predict(data)
        stress_ref = getattr(data, "stress", None)
        m = energy_force_metrics(pred[keys.ENERGY], data.targets, data.n_atoms, pred[keys.FORCES], data.forces,
                                 pred.get(keys.STRESS) if stress_ref is not None else None, stress_ref)
        de2 = (pred[keys.ENERGY] - np.asarray(data.targets, np.float64)) ** 2
        df2 = np.sum((pred[keys.FORCES] - np.asarray(data.forces, np.float64)) ** 2, axis=1)
        per_structure = np.add.reduceat(df2, np.asarray(data.offsets[:-1])) / np.asarray(data.n_atoms)
        loss = self.loss.rho * de2.mean() + self.loss.forces_weight * per_structure.mean()
        if self.loss.needs_stress and stress_ref is not None:
            loss += self.loss.stress_weight * np.mean((pred[keys.STRESS] - stress_ref) ** 2)
        m["loss"] = float(loss)
        m["combined_mae"] = self.loss.combined_mae(m)
        return m

    def mae(self, data) -> float:
        """The monitored validation number of ``data`` (the MAE without a force loss)."""
        return self.errors(data)[self.monitor]

    def _ensure_built(self, data):
        if self.model.built:
            self._check_in_scope(self.model.variables)
        if not self.model.built or not self.optimizer.built:
            _, batch, targets, weights = next(data.batches())
            with strategy_scope(self.strategy):
                self.model(batch_tensors(batch))
                self.optimizer.build(self.model.trainable_variables)
        self._check_in_scope([*self.model.variables, *self.optimizer.variables])

    def _check_in_scope(self, variables):
        """With a strategy, every variable must be the strategy's (created under its scope)."""
        if self.strategy is None:
            return
        outside = [v.path for v in variables
                   if not self.strategy.extended.variable_created_in_scope(getattr(v, "value", v))]
        if outside:
            raise ValueError(f"{len(outside)} variables (first: {outside[0]}) were created outside the "
                             f"strategy's scope: build the model and the optimizer under strategy.scope(), "
                             f"or pass them unbuilt to BatchTrainer(strategy=...)")

    def _save_last(self, ckpt: Path, state: dict):
        if not self.chief:
            return
        _atomic_save_weights(self.model, ckpt / "last.weights.h5")
        with atomic_path(ckpt / "last.optimizer.npz") as tmp:
            np.savez(tmp, *[v.numpy() for v in self.optimizer.variables])
        write_json(ckpt / "state.json", state)  # written last: it vouches for the two files above

    def _restore_last(self, ckpt: Path) -> dict | None:
        path = ckpt / "state.json"
        if not path.exists():
            return None
        restart = f"delete {ckpt} to train this model afresh"
        try:
            state = json.loads(path.read_text())
            missing = [k for k in ("epoch", "step", "best_val_mae", "best_epoch", "seconds", "finished")
                       if k not in state]
            if missing:
                raise KeyError(f"no {missing}")
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"checkpoint {path} cannot be read ({err!r}); {restart}") from None
        load_checkpoint_weights(self.model, ckpt / "last.weights.h5")
        path = ckpt / "last.optimizer.npz"
        try:
            with np.load(path) as saved:
                values = [saved[f"arr_{k}"] for k in range(len(saved.files))]
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"checkpoint {path} cannot be read, it is damaged or truncated ({err}); "
                             f"{restart}") from None
        variables = self.optimizer.variables
        if len(values) != len(variables) or any(tuple(v.shape) != a.shape for v, a in zip(variables, values)):
            raise ValueError(f"checkpoint {path} belongs to a different model configuration or optimizer "
                             f"({len(values)} optimizer variables saved, {len(variables)} here); use another "
                             f"checkpoint directory or delete {ckpt}")
        for var, value in zip(variables, values):
            var.assign(value)
        return state

    def _load_best(self, ckpt: Path, state: dict):
        best = ckpt / "best.weights.h5"
        if not best.exists():
            raise FloatingPointError(f"no best model in {ckpt}: no epoch had a finite validation MAE "
                                     f"(last: {state.get('best_val_mae')}); lower the learning rate or check "
                                     f"the data, and delete {ckpt} to start afresh")
        load_checkpoint_weights(self.model, best)

    def fit(self, train, val, checkpoint_dir, max_steps: int,
            patience: int | None = None, time_limit_s: float | None = None, seed: int = 0,
            progress: bool = True) -> TrainingResult:
        """Train until ``max_steps``, early stopping or the time limit; load the best weights at the end.

        ``progress`` shows a bar over the steps of each epoch and prints a line per epoch,
        and says when a finished checkpoint is loaded instead of training.
        Raises ``ValueError`` for non-finite targets or atomic numbers beyond the model's
        ``max_z`` (before any step), :class:`~tfatoms._io.DirectoryInUse` if another
        run holds ``checkpoint_dir``, and ``FloatingPointError`` if the validation MAE
        becomes NaN or infinite (training diverged).
        """
        if train.targets is None or val.targets is None:
            raise ValueError("train and val batch sources need targets")
        max_steps = positive_int(max_steps, "max_steps")
        check_targets(train, "training")
        check_targets(val, "validation")
        if self.keyed:
            check_forces(train, "training")
            check_forces(val, "validation")
            if getattr(self.loss, "needs_stress", False) and (getattr(train, "stress", None) is None
                                                             or getattr(val, "stress", None) is None):
                raise ValueError(f"{self.loss!r} trains on stress, but the batch sources carry none "
                                 f"(give StructureBatches(..., stress=...) bulk cells with stress, eV/A^3)")
        self._check_numbers(train)
        self._check_numbers(val)
        self._check_cutoff(train, "training")
        self._check_cutoff(val, "validation")
        ckpt = Path(checkpoint_dir)
        # the chief writes the checkpoint (and holds its lock); other workers only read it when they resume
        with exclusive(ckpt, "checkpoint directory") if self.chief else contextlib.nullcontext():
            return self._fit_locked(train, val, ckpt, max_steps, patience, time_limit_s, seed, progress)

    def _fit_locked(self, train, val, ckpt: Path, max_steps: int, patience, time_limit_s, seed,
                    progress) -> TrainingResult:
        from tqdm.auto import tqdm

        if self.chief:
            remove_legacy_temporaries(ckpt)
        progress = progress and self.chief
        self._ensure_built(train)
        restored = self._restore_last(ckpt)
        state = restored or {"epoch": 0, "step": 0, "best_val_mae": float("inf"), "best_epoch": -1,
                             "seconds": 0.0, "finished": None}
        self._check_restored_alike(ckpt, state)
        if restored is not None and restored.get("monitor", "mae") != self.monitor:
            raise ValueError(f"checkpoint {ckpt / 'state.json'} was trained with monitor "
                             f"{state.get('monitor', 'mae')!r}, not {self.monitor!r}; use the same loss and monitor, "
                             f"another checkpoint directory, or delete {ckpt}")
        if self.monitor != "mae" or self.keyed:
            loss_config = {"class": type(self.loss).__name__, **self.loss.get_config()}
            if restored is not None and restored.get("loss", loss_config) != loss_config:
                raise ValueError(f"checkpoint {ckpt / 'state.json'} was trained with the loss {restored['loss']}, "
                                 f"not {loss_config}; use the same loss, another checkpoint directory, or "
                                 f"delete {ckpt}")
            state["monitor"] = self.monitor
            state["loss"] = loss_config
        # a run stopped by its step budget or by early stopping is done; one stopped by the
        # time limit (or killed) continues, so a rerun with more time picks up where it ended
        if state["step"] >= max_steps or state["finished"] == "early_stopping":
            self._load_best(ckpt, state)
            if progress:
                print(f"loaded finished model from checkpoint {ckpt / 'best.weights.h5'} (trained {state['step']} "
                      f"steps, best epoch {state['best_epoch']} of {state['epoch']}); skipping training", flush=True)
            return self._result(ckpt, state, "done")
        if progress and state["step"]:
            print(f"resuming from checkpoint {ckpt} at epoch {state['epoch']}, step {state['step']} of {max_steps}",
                  flush=True)
        history_path = ckpt / "history.jsonl"
        t_start = time.perf_counter() - state["seconds"]
        stopped = None
        while stopped is None:
            epoch = state["epoch"]
            losses = []
            bar = tqdm(self._training_steps(train, seed * 100_003 + epoch), total=train.n_batches(),
                       desc=f"epoch {epoch + 1}", disable=not progress, leave=False)
            for step_args in bar:
                losses.append(float(self._train_step(*step_args)))
                state["step"] += 1
                if progress and len(losses) % 20 == 0:
                    bar.set_postfix(train_mse=f"{np.mean(losses[-20:]):.4g}", refresh=False)
                if state["step"] >= max_steps:
                    break
            val_err = self.errors(val)
            val_mae = val_err[self.monitor]
            label = _monitor_label(self.monitor)
            if not np.isfinite(val_mae):
                kept = (f"the best model so far (epoch {state['best_epoch']}) is in {ckpt / 'best.weights.h5'}"
                        if state["best_epoch"] > 0 else f"no epoch had a finite validation {label}")
                train_name = "loss" if self.keyed else "MSE"
                raise FloatingPointError(f"training diverged: validation {label} is {val_mae} after epoch "
                                         f"{epoch + 1} (step {state['step']}, train {train_name} "
                                         f"{np.mean(losses):.4g}); {kept}. "
                                         f"Lower the learning rate, and delete {ckpt} to start afresh")
            state["epoch"] = epoch + 1
            state["seconds"] = time.perf_counter() - t_start
            lr = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
            if self.keyed:
                record = {"epoch": epoch + 1, "step": state["step"], "train_loss": float(np.mean(losses)),
                          "monitor": self.monitor, **{f"val_{k}": v for k, v in val_err.items()},
                          "lr": lr, "seconds": state["seconds"]}
            else:
                record = {"epoch": epoch + 1, "step": state["step"], "train_mse": float(np.mean(losses)),
                          "val_mae": val_err["mae"], "val_mse": val_err["mse"], "lr": lr,
                          "seconds": state["seconds"]}
                if self.monitor != "mae":
                    record.update(monitor=self.monitor, **{f"val_{self.monitor}": val_mae})
            if val_mae < state["best_val_mae"]:
                state["best_val_mae"], state["best_epoch"] = val_mae, epoch + 1
                if self.chief:
                    _atomic_save_weights(self.model, ckpt / "best.weights.h5")
            if progress and self.keyed:
                print(f"epoch {epoch + 1}: step {state['step']}, train loss {record['train_loss']:.4g}, "
                      f"val energy MAE {val_err['energy_mae']:.4g} eV, forces MAE {val_err['forces_mae']:.4g} eV/A, "
                      f"{label} {val_mae:.4g} (best {state['best_val_mae']:.4g} @ {state['best_epoch']}), "
                      f"{state['seconds']:.0f} s", flush=True)
            elif progress:
                print(f"epoch {epoch + 1}: step {state['step']}, train MSE {record['train_mse']:.4g}, "
                      f"val {label} {val_mae:.4g} (best {state['best_val_mae']:.4g} @ {state['best_epoch']}), "
                      f"{state['seconds']:.0f} s", flush=True)
            if self.chief:
                with open(history_path, "a") as fh:
                    fh.write(json.dumps(record) + "\n")
            # every worker sees the same steps and validation numbers; the time limit is the chief's clock
            # (gathered each epoch, after the chief's writes: also the barrier before the best model is read)
            out_of_time = self._gathered(self.chief and time_limit_s is not None
                                         and state["seconds"] >= time_limit_s).max() > 0
            if state["step"] >= max_steps:
                stopped = "max_steps"
            elif patience is not None and state["epoch"] - state["best_epoch"] >= patience:
                stopped = "early_stopping"
            elif out_of_time:
                stopped = "time_limit"
            state["finished"] = stopped
            self._save_last(ckpt, state)
        self._load_best(ckpt, state)
        return self._result(ckpt, state, stopped)

    def _result(self, ckpt: Path, state: dict, stopped: str) -> TrainingResult:
        history = []
        if (ckpt / "history.jsonl").exists():
            by_epoch = {}
            lines = (ckpt / "history.jsonl").read_text().splitlines()
            for k, line in enumerate(lines):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    if k == len(lines) - 1:  # a run killed while writing its last line
                        break
                    raise ValueError(f"{ckpt / 'history.jsonl'}, line {k + 1}: not a JSON record") from None
                by_epoch[rec["epoch"]] = rec
            history = [by_epoch[e] for e in sorted(by_epoch)]
        return TrainingResult(best_val_mae=state["best_val_mae"], best_epoch=state["best_epoch"],
                              epochs=state["epoch"], steps=state["step"], seconds=state["seconds"],
                              stopped=stopped, history=history, monitor=self.monitor)
