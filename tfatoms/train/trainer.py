"""Training loop shared by every model trained on fixed-shape batches (SchNet, DTNN, EDNN sheets).

The data is any *batch source*
(:class:`~tfatoms.representations.batch_source.BatchSource`): ``targets`` (n,),
``len()``, ``n_batches()`` and ``batches(shuffle_seed=None)`` yielding ``(indices,
inputs, targets, weights)`` with NumPy ``inputs`` (an array or a dict of arrays)
that the model takes, and per-example ``weights`` (0 for padding):
:class:`~tfatoms.representations.padded.MoleculeBatches` for molecules,
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
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfatoms.train.metrics import error_metrics


@dataclass
class TrainingResult:
    best_val_mae: float
    best_epoch: int
    epochs: int
    steps: int
    seconds: float
    stopped: str          # "max_steps", "early_stopping", "time_limit" or "done" (already finished)
    history: list[dict]


def thesis_learning_rate(initial: float = 1e-3, decay_rate: float = 0.96, decay_steps: int = 100_000):
    """Adam learning rate of the thesis (sec. 4.4): ``initial * decay_rate ** (step / decay_steps)``."""
    return keras.optimizers.schedules.ExponentialDecay(initial, decay_steps, decay_rate)


def budget_learning_rate(initial: float, final: float, total_steps: int):
    """Cosine decay from ``initial`` to ``final`` over ``total_steps`` (for short budgets)."""
    return keras.optimizers.schedules.CosineDecay(initial, max(1, int(total_steps)), alpha=final / initial)


def _atomic_save_weights(model, path: Path):
    tmp = path.with_name(f"tmp-{os.getpid()}-{path.name}")
    model.save_weights(tmp)
    os.replace(tmp, path)


def _atomic_json(path: Path, data):
    tmp = path.with_name(f"tmp-{os.getpid()}-{path.name}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def batch_tensors(batch):
    """Collated model inputs (an array or a dict of NumPy arrays) as tensors, for the compiled steps."""
    return tf.nest.map_structure(tf.convert_to_tensor, batch)


def step_tensors(batch, targets, weights):
    """``(inputs, targets, weights)`` of one batch as tensors for the train step."""
    return batch_tensors(batch), tf.convert_to_tensor(targets), tf.convert_to_tensor(weights)


class BatchTrainer:
    """Fit ``model(inputs)`` (one prediction per batch slot) to a batch source with the weighted MSE loss.

    Args:
        model: a built or unbuilt atomistic model (``call(batch, training)``).
        learning_rate: float or Keras schedule of Adam (default: :func:`thesis_learning_rate`).
        optimizer: a Keras optimizer to use instead of Adam (``learning_rate`` is then ignored).
        jit_compile: compile the train and predict steps with XLA.
    """

    def __init__(self, model, learning_rate=None, optimizer=None, jit_compile: bool = False):
        self.model = model
        if optimizer is None:
            optimizer = keras.optimizers.Adam(thesis_learning_rate() if learning_rate is None else learning_rate)
        self.optimizer = optimizer
        self.jit_compile = bool(jit_compile)
        self._train_step = tf.function(self._train_step_impl, jit_compile=self.jit_compile, reduce_retracing=True)
        self._predict_step = tf.function(self._predict_impl, jit_compile=self.jit_compile, reduce_retracing=True)

    def _train_step_impl(self, batch, targets, weights):
        with tf.GradientTape() as tape:
            pred = tf.reshape(self.model(batch, training=True), tf.shape(targets))
            loss = tf.reduce_sum(weights * tf.square(pred - targets)) / tf.reduce_sum(weights)
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return loss

    def _predict_impl(self, batch):
        return self.model(batch, training=False)

    def predict(self, data) -> np.ndarray:
        """Predictions for every example of the batch source ``data``, in its order, float64."""
        out = np.empty(len(data), np.float64)
        for sel, batch, _, _ in data.batches():
            pred = self._predict_step(batch_tensors(batch))
            out[sel] = pred.numpy().reshape(-1)[:len(sel)]
        return out

    def errors(self, data) -> dict[str, float]:
        """:func:`error_metrics` of the predictions for ``data`` against its targets."""
        return error_metrics(self.predict(data), data.targets)

    def mae(self, data) -> float:
        return self.errors(data)["mae"]

    def _ensure_built(self, data):
        if not self.model.built or not self.optimizer.built:
            _, batch, targets, weights = next(data.batches())
            self.model(batch_tensors(batch))
            self.optimizer.build(self.model.trainable_variables)

    def _save_last(self, ckpt: Path, state: dict):
        _atomic_save_weights(self.model, ckpt / "last.weights.h5")
        tmp = ckpt / f"tmp-{os.getpid()}-last.optimizer.npz"
        np.savez(tmp, *[v.numpy() for v in self.optimizer.variables])
        os.replace(tmp, ckpt / "last.optimizer.npz")
        _atomic_json(ckpt / "state.json", state)  # written last: it vouches for the two files above

    def _restore_last(self, ckpt: Path) -> dict | None:
        if not (ckpt / "state.json").exists():
            return None
        state = json.loads((ckpt / "state.json").read_text())
        self.model.load_weights(ckpt / "last.weights.h5")
        with np.load(ckpt / "last.optimizer.npz") as saved:
            values = [saved[f"arr_{k}"] for k in range(len(saved.files))]
        if len(values) != len(self.optimizer.variables):
            raise ValueError(f"{ckpt}: optimizer checkpoint has {len(values)} variables, expected "
                             f"{len(self.optimizer.variables)} (different model?)")
        for var, value in zip(self.optimizer.variables, values):
            var.assign(value)
        return state

    def fit(self, train, val, checkpoint_dir, max_steps: int,
            patience: int | None = None, time_limit_s: float | None = None, seed: int = 0,
            progress: bool = True) -> TrainingResult:
        """Train until ``max_steps``, early stopping or the time limit; load the best weights at the end."""
        from tqdm.auto import tqdm

        if train.targets is None or val.targets is None:
            raise ValueError("train and val batch sources need targets")
        ckpt = Path(checkpoint_dir)
        ckpt.mkdir(parents=True, exist_ok=True)
        self._ensure_built(train)
        state = self._restore_last(ckpt) or {"epoch": 0, "step": 0, "best_val_mae": float("inf"), "best_epoch": -1,
                                              "seconds": 0.0, "finished": None}
        # a run stopped by its step budget or by early stopping is done; one stopped by the
        # time limit (or killed) continues, so a rerun with more time picks up where it ended
        if state["step"] >= max_steps or state["finished"] == "early_stopping":
            self.model.load_weights(ckpt / "best.weights.h5")
            return self._result(ckpt, state, "done")
        history_path = ckpt / "history.jsonl"
        t_start = time.perf_counter() - state["seconds"]
        stopped = None
        while stopped is None:
            epoch = state["epoch"]
            losses = []
            bar = tqdm(train.batches(shuffle_seed=seed * 100_003 + epoch), total=train.n_batches(),
                       desc=f"epoch {epoch + 1}", disable=not progress, leave=False)
            for _, batch, targets, weights in bar:
                losses.append(float(self._train_step(*step_tensors(batch, targets, weights))))
                state["step"] += 1
                if progress and len(losses) % 20 == 0:
                    bar.set_postfix(train_mse=f"{np.mean(losses[-20:]):.4g}", refresh=False)
                if state["step"] >= max_steps:
                    break
            val_err = self.errors(val)
            val_mae = val_err["mae"]
            state["epoch"] = epoch + 1
            state["seconds"] = time.perf_counter() - t_start
            record = {"epoch": epoch + 1, "step": state["step"], "train_mse": float(np.mean(losses)),
                      "val_mae": val_mae, "val_mse": val_err["mse"],
                      "lr": float(keras.ops.convert_to_numpy(self.optimizer.learning_rate)),
                      "seconds": state["seconds"]}
            if val_mae < state["best_val_mae"]:
                state["best_val_mae"], state["best_epoch"] = val_mae, epoch + 1
                _atomic_save_weights(self.model, ckpt / "best.weights.h5")
            if progress:
                print(f"epoch {epoch + 1}: step {state['step']}, train MSE {record['train_mse']:.4g}, "
                      f"val MAE {val_mae:.4g} (best {state['best_val_mae']:.4g} @ {state['best_epoch']}), "
                      f"{state['seconds']:.0f} s", flush=True)
            with open(history_path, "a") as fh:
                fh.write(json.dumps(record) + "\n")
            if state["step"] >= max_steps:
                stopped = "max_steps"
            elif patience is not None and state["epoch"] - state["best_epoch"] >= patience:
                stopped = "early_stopping"
            elif time_limit_s is not None and state["seconds"] >= time_limit_s:
                stopped = "time_limit"
            state["finished"] = stopped
            self._save_last(ckpt, state)
        self.model.load_weights(ckpt / "best.weights.h5")
        return self._result(ckpt, state, stopped)

    @staticmethod
    def _result(ckpt: Path, state: dict, stopped: str) -> TrainingResult:
        history = []
        if (ckpt / "history.jsonl").exists():
            by_epoch = {}
            for line in (ckpt / "history.jsonl").read_text().splitlines():
                rec = json.loads(line)
                by_epoch[rec["epoch"]] = rec
            history = [by_epoch[e] for e in sorted(by_epoch)]
        return TrainingResult(best_val_mae=state["best_val_mae"], best_epoch=state["best_epoch"],
                              epochs=state["epoch"], steps=state["step"], seconds=state["seconds"],
                              stopped=stopped, history=history)
