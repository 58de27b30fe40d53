"""A resumable ``keras.Model.fit``: interrupted runs continue from their last epoch.

State lives in ``checkpoint_dir``: ``backup/latest.weights.h5`` (model and
optimizer) and ``backup/training_metadata.json`` (the epoch it belongs to) are
written atomically at the end of every epoch, ``history.jsonl`` gets one line
per finished epoch, and ``final.weights.h5`` marks a finished run (calling again
only loads it, and says so).

While a run trains it holds the lock of ``checkpoint_dir``
(:func:`tfatoms._io.exclusive`): a second run on the same directory fails at
once with :class:`~tfatoms._io.DirectoryInUse` instead of corrupting it. A
checkpoint file that cannot be read (damaged, or written by a model of another
configuration) raises a ``ValueError`` naming the file; delete it (or the whole
directory) to start that run afresh. Nothing is discarded silently.
"""
from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import keras

from tfatoms._io import atomic_path, atomic_write, exclusive, remove_stale_temporaries

#: Keras warns when weights saved with optimizer state are loaded into a model whose optimizer
#: has not been built; the optimizer state of a finished model is not needed, so the warning means nothing.
_OPTIMIZER_SKIP = r"Skipping variable loading for optimizer"


def load_checkpoint_weights(model: keras.Model, path, what: str = "checkpoint", quiet_optimizer: bool = True):
    """``model.load_weights(path)`` with an error that names the file when it cannot be used.

    A damaged file (truncated, not HDF5) and a file written by a model of another
    configuration (other layers or shapes) both raise ``ValueError`` naming ``path``
    and saying to delete it.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            if quiet_optimizer:
                warnings.filterwarnings("ignore", message=_OPTIMIZER_SKIP)
            model.load_weights(path)
    except OSError as err:
        raise ValueError(f"{what} {path} cannot be read, it is damaged or truncated ({err}); delete it "
                         f"(or its directory {path.parent}) to train this model again") from None
    except (ValueError, KeyError) as err:
        raise ValueError(f"{what} {path} belongs to a different model configuration and cannot be loaded "
                         f"into this one ({str(err).splitlines()[0].split(' Example')[0]}); use another checkpoint directory or "
                         f"delete {path.parent}") from None


_LEGACY_TMP = re.compile(r"^tmp-(?P<pid>\d+)[-.]")


def remove_legacy_temporaries(directory) -> list[Path]:
    """Remove ``tmp-<pid>-*`` / ``tmp-<pid>.*`` files of dead processes: the temporaries of checkpoint
    writes before they went through :func:`tfatoms._io.atomic_path`, left by runs killed mid-write."""
    return remove_stale_temporaries(directory, pattern=_LEGACY_TMP)


class _EpochLog(keras.callbacks.Callback):
    """Append ``{"epoch": k, **logs}`` to a JSON-lines file after every epoch."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        with open(self.path, "a") as fh:
            fh.write(json.dumps({"epoch": int(epoch), **{k: float(v) for k, v in (logs or {}).items()}}) + "\n")


class _AtomicBackup(keras.callbacks.Callback):
    """Model + optimizer and the finished epoch count at every epoch end, each file written atomically.

    Same files as ``keras.callbacks.BackupAndRestore`` (``latest.weights.h5``,
    ``training_metadata.json``), so backups of earlier versions resume too; the
    metadata is written last and vouches for the weights.
    """

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory

    def on_epoch_end(self, epoch, logs=None):
        with atomic_path(self.directory / "latest.weights.h5") as tmp:
            self.model.save_weights(tmp)
        atomic_write(self.directory / "training_metadata.json", json.dumps({"epoch": int(epoch) + 1, "batch": 0}))


def _restore_backup(model: keras.Model, directory: Path) -> int:
    """Load the backup of an interrupted run into ``model``; return its finished epochs (0 if none)."""
    meta, weights = directory / "training_metadata.json", directory / "latest.weights.h5"
    if not meta.exists():
        return 0
    try:
        epoch = int(json.loads(meta.read_text())["epoch"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"training backup {meta} cannot be read ({err!r}); delete {directory} to restart "
                         f"this model from its first epoch") from None
    if not weights.exists():
        raise ValueError(f"training backup {meta} has no {weights.name} beside it; delete {directory} to restart "
                         f"this model from its first epoch")
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # so the optimizer state is restored too
    load_checkpoint_weights(model, weights, "training backup", quiet_optimizer=False)
    return epoch


def read_history(path) -> dict[str, list[float]]:
    """History as ``{metric: [value per epoch]}``; of repeated epochs (after a restart) the last wins.

    An incomplete last line (a run killed while writing it) is ignored.
    """
    by_epoch = {}
    lines = Path(path).read_text().splitlines() if Path(path).exists() else []
    for k, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if k == len(lines) - 1:
                break
            raise ValueError(f"{path}, line {k + 1}: not a JSON record: {line[:80]!r}") from None
        by_epoch[record.pop("epoch")] = record
    epochs = sorted(by_epoch)
    names = sorted({k for r in by_epoch.values() for k in r})
    return {k: [by_epoch[e].get(k, float("nan")) for e in epochs] for k in names}


def _load_finished(model, final: Path, log: Path, verbose: int) -> dict:
    load_checkpoint_weights(model, final, "finished checkpoint")
    history = read_history(log)
    if verbose:
        epochs = len(next(iter(history.values()), []))
        print(f"loaded finished model from checkpoint {final} (trained {epochs} epochs); skipping training",
              flush=True)
    return history


def fit_resumable(model: keras.Model, x, y, checkpoint_dir, epochs: int, batch_size: int,
                  validation_data=None, callbacks=(), verbose: int = 2) -> dict:
    """Train a compiled ``model`` for ``epochs``, resuming from ``checkpoint_dir`` after an interruption.

    Returns the history ``{metric: [value per epoch]}``. A finished run is not repeated:
    its final weights are loaded and its history returned (with ``verbose``, a line says so).
    Raises :class:`~tfatoms._io.DirectoryInUse` if another process is training into
    ``checkpoint_dir``, and ``ValueError`` naming the file for an unreadable checkpoint.
    """
    checkpoint_dir = Path(checkpoint_dir)
    final = checkpoint_dir / "final.weights.h5"
    log = checkpoint_dir / "history.jsonl"
    if not model.built:
        model(x[:1])
    if final.exists():  # written atomically and never again: no lock needed to read it
        return _load_finished(model, final, log, verbose)
    with exclusive(checkpoint_dir, "checkpoint directory"):
        if final.exists():  # finished by another run while we waited for the lock
            return _load_finished(model, final, log, verbose)
        remove_legacy_temporaries(checkpoint_dir)
        backup = checkpoint_dir / "backup"
        initial_epoch = _restore_backup(model, backup)
        if initial_epoch and verbose:
            print(f"resuming from checkpoint {backup} after epoch {initial_epoch} of {epochs}", flush=True)
        model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                  initial_epoch=min(initial_epoch, epochs),
                  callbacks=[_EpochLog(log), _AtomicBackup(backup), *callbacks], verbose=verbose)
        with atomic_path(final) as tmp:
            model.save_weights(tmp)
        shutil.rmtree(backup, ignore_errors=True)
        return read_history(log)
