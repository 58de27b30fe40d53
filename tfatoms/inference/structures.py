"""Energies (and forces) of many structures with any atomistic energy model, split over MPI ranks, resumable.

The structures are cut into *global* batches of ``batch_size`` consecutive structures (batch ``k`` holds
structures ``k B .. (k + 1) B - 1`` whatever the rank count), and each rank takes a contiguous, balanced share
of the batches (:func:`tfatoms.inference.parallel.rank_windows`). A batch is always padded and evaluated the
same way (:class:`~tfatoms.representations.StructureBatches`, the training path, reading the model's cutoff),
so every structure's prediction is bit for bit the same on any number of ranks (at a fixed thread count).

With ``checkpoint_dir`` each finished batch is stored (``batch_<k>.npz``, written atomically) under a
``manifest.json`` naming the input (SHA-256 of its structures), the model (SHA-256 of its weights), the batch
size and what is predicted; a rerun skips the stored batches, with any number of ranks, and a manifest of
another input or model is a :class:`~tfatoms.inference.parallel.CheckpointMismatch` naming what differs (the old progress is never reused or overwritten).
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from tfatoms import keys
from tfatoms._io import atomic_path, write_json
from tfatoms.inference.parallel import CheckpointMismatch, agree_errors, rank_windows
from tfatoms.representations.padded import StructureBatches

#: Version of the checkpoint layout (part of the manifest).
CHECKPOINT_VERSION = 1


def structures_sha256(data) -> str:
    """SHA-256 of an AtomsData's structures: numbers, positions, pointer, cell and pbc (not its properties)."""
    h = hashlib.sha256()
    for arr in (data.numbers.astype(np.int64), data.positions.astype(np.float64), data.ptr.astype(np.int64),
                data.cell.astype(np.float64), data.pbc.astype(bool)):
        h.update(f"{arr.dtype.str}{arr.shape};".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def model_sha256(model) -> str:
    """SHA-256 of a Keras model's weights (shapes, dtypes and bytes, in order) and its class name."""
    h = hashlib.sha256(type(model).__name__.encode())
    for w in model.get_weights():
        w = np.ascontiguousarray(w)
        h.update(f"{w.dtype.str}{w.shape};".encode())
        h.update(w.tobytes())
    return h.hexdigest()


def _prepare_checkpoint(directory: Path | None, manifest: dict, comm) -> None:
    """Create or check ``manifest.json`` (rank 0 writes, every rank raises alike)."""
    if directory is None:
        return
    error = None
    rank = 0 if comm is None else comm.Get_rank()
    if rank == 0:
        path = directory / "manifest.json"
        try:
            if path.exists():
                stored = json.loads(path.read_text())
                differ = [k for k in manifest if stored.get(k) != manifest[k]]
                if differ:
                    error = (f"checkpoint {directory} holds the progress of another run: "
                             + "; ".join(f"{k}: stored {stored.get(k)!r}, now {manifest[k]!r}" for k in differ)
                             + "; remove the directory or give another --checkpoint")
            else:
                directory.mkdir(parents=True, exist_ok=True)
                write_json(path, manifest)
        except (OSError, ValueError) as err:
            error = f"checkpoint {directory}/manifest.json cannot be used: {err}"
    if comm is not None:
        error = comm.bcast(error, root=0)
    if error:
        raise CheckpointMismatch(error)


def _load_batch(path: Path, n_structures: int, n_atoms: int, forces: bool):
    try:
        with np.load(path) as f:
            energy = f["energy"]
            force = f["forces"] if forces else None
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"checkpoint file {path} is damaged ({err}); delete it to recompute that batch") from None
    if energy.shape != (n_structures,) or (forces and force.shape != (n_atoms, 3)):
        raise ValueError(f"checkpoint file {path} does not fit its batch; delete it to recompute that batch")
    return energy, force


def predict_structures(model, data, batch_size: int = 32, forces: bool = True, comm=None, checkpoint_dir=None,
                       progress: bool = False, model_key: str | None = None, input_key: str | None = None) -> dict:
    """Predicted energies ``(n_structures,)`` eV (and forces ``(n_atoms_total, 3)`` eV/A) of an AtomsData.

    Args:
        model: an atomistic energy model (``SchNet``, ``DTNN``, ...; its ``cutoff`` and ``max_z`` are read).
        data: :class:`~tfatoms.data.atoms.AtomsData` (every rank holds it; each featurizes only its batches).
        batch_size: structures per global batch.
        forces: also predict forces (``-dE/dr``).
        comm: an MPI communicator or ``None`` (one process).
        checkpoint_dir: store finished batches there and resume from them.
        progress: a tqdm bar of this rank's batches (rank 0 only).
        model_key, input_key: identities recorded in the checkpoint manifest (default: SHA-256 of the
            model's weights and of the structures).

    Returns, on rank 0, ``{"energy", "forces" (or None), "n_batches", "batches_resumed", "wall_s",
    "predict_s_max"}``; on other ranks ``None``. Raises ``ValueError`` naming the structure for an element
    beyond the model's ``max_z`` or a periodic structure the model cannot take, on the rank that holds it.
    """
    t0 = time.perf_counter()
    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    n = len(data)
    n_batches = -(-n // batch_size)
    mine = rank_windows(list(range(n_batches)), rank, size)
    directory = None if checkpoint_dir is None else Path(checkpoint_dir)
    manifest = dict(version=CHECKPOINT_VERSION, input=input_key or structures_sha256(data),
                    model=model_key or model_sha256(model), batch_size=int(batch_size), forces=bool(forces),
                    n_structures=n)
    _prepare_checkpoint(directory, manifest, comm)

    results, resumed, todo = {}, 0, []
    t_predict, error = 0.0, None
    try:
        for k in mine:
            lo, hi = k * batch_size, min(n, (k + 1) * batch_size)
            path = None if directory is None else directory / f"batch_{k:06d}.npz"
            if path is not None and path.exists():
                n_atoms = int(data.ptr[hi] - data.ptr[lo])
                results[k] = _load_batch(path, hi - lo, n_atoms, forces)
                resumed += 1
            else:
                todo.append(k)
        t_predict = _predict_batches(model, data, batch_size, forces, todo, results, directory, progress, rank)
    except ValueError as err:                        # e.g. an element beyond max_z in this rank's structures
        error = ("ValueError", str(err))
    agree_errors(comm, error)                        # every rank raises it: none waits for one that failed

    gathered = [results] if comm is None else comm.gather(results, root=0)
    timings = [t_predict] if comm is None else comm.gather(t_predict, root=0)
    n_resumed = [resumed] if comm is None else comm.gather(resumed, root=0)
    if rank != 0:
        return None
    merged = {}
    for part in gathered:
        merged.update(part)
    energy = np.concatenate([merged[k][0] for k in range(n_batches)]) if n_batches else np.zeros(0)
    force = np.concatenate([merged[k][1] for k in range(n_batches)]) if forces and n_batches else None
    return {"energy": energy, "forces": force, "n_batches": n_batches, "batches_resumed": int(sum(n_resumed)),
            "wall_s": time.perf_counter() - t0, "predict_s_max": float(max(timings))}


def _predict_batches(model, data, batch_size, forces, todo, results, directory, progress, rank) -> float:
    """Evaluate the global batches ``todo`` (consecutive) into ``results``; seconds spent predicting."""
    import tensorflow as tf
    from tqdm.auto import tqdm

    from tfatoms.models.potential import Potential

    n = len(data)
    t_predict = 0.0
    if not todo:
        return t_predict
    first, last = todo[0] * batch_size, min(n, (todo[-1] + 1) * batch_size)
    subset = data.subset(np.arange(first, last))
    batches = StructureBatches.from_atoms_data(subset, energy=None, model=model, batch_size=batch_size)
    potential = Potential(model, compute_forces=forces)
    step = tf.function(lambda batch: potential(batch, training=False), reduce_retracing=True)
    bar = tqdm(todo, desc=f"rank {rank}: batches", disable=not (progress and rank == 0), unit="batch")
    for k in bar:
        lo, hi = k * batch_size, min(n, (k + 1) * batch_size)
        local = np.arange(lo - first, hi - first)
        t1 = time.perf_counter()
        batch, _, _ = batches.collate(local)
        out = step({key: tf.convert_to_tensor(v) for key, v in batch.items()})
        n_atoms = int(batch[keys.N_ATOMS][:len(local)].sum())
        energy = out[keys.ENERGY].numpy()[:len(local)].astype(np.float64)
        force = out[keys.FORCES].numpy()[:n_atoms].astype(np.float64) if forces else None
        t_predict += time.perf_counter() - t1
        results[k] = (energy, force)
        if directory is not None:
            path = directory / f"batch_{k:06d}.npz"
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, energy=energy, **({"forces": force} if forces else {}))
    return t_predict
