"""A resumable ``keras.Model.fit``: interrupted runs continue from their last epoch.

State lives in ``checkpoint_dir``: Keras' ``BackupAndRestore`` keeps model and
optimizer at the end of every epoch, ``history.jsonl`` gets one line per
finished epoch, and ``final.weights.h5`` marks a finished run (calling again
only loads it).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import keras


class _EpochLog(keras.callbacks.Callback):
    """Append ``{"epoch": k, **logs}`` to a JSON-lines file after every epoch."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        with open(self.path, "a") as fh:
            fh.write(json.dumps({"epoch": int(epoch), **{k: float(v) for k, v in (logs or {}).items()}}) + "\n")


def read_history(path) -> dict[str, list[float]]:
    """History as ``{metric: [value per epoch]}``; of repeated epochs (after a restart) the last wins."""
    by_epoch = {}
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        by_epoch[record.pop("epoch")] = record
    epochs = sorted(by_epoch)
    names = sorted({k for r in by_epoch.values() for k in r})
    return {k: [by_epoch[e].get(k, float("nan")) for e in epochs] for k in names}


def fit_resumable(model: keras.Model, x, y, checkpoint_dir, epochs: int, batch_size: int,
                  validation_data=None, callbacks=(), verbose: int = 2) -> dict:
    """Train a compiled ``model`` for ``epochs``, resuming from ``checkpoint_dir`` after an interruption.

    Returns the history ``{metric: [value per epoch]}``. A finished run is not repeated:
    its final weights are loaded and its history returned.
    """
    checkpoint_dir = Path(checkpoint_dir)
    final = checkpoint_dir / "final.weights.h5"
    log = checkpoint_dir / "history.jsonl"
    if not model.built:
        model(x[:1])
    if final.exists():
        model.load_weights(final)
        return read_history(log)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    backup = keras.callbacks.BackupAndRestore(str(checkpoint_dir / "backup"))
    model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
              callbacks=[backup, _EpochLog(log), *callbacks], verbose=verbose)
    tmp = checkpoint_dir / f"tmp-{os.getpid()}.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, final)
    return read_history(log)
