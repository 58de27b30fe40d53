"""One sheet's EDNN energy split over MPI ranks (EDNN sec. 3.3, Figs. 10-12).

Every rank takes a balanced, contiguous block of the sheet's windows
(:func:`rank_windows`), computes its partial energy with no communication
(:meth:`SheetPredictor.energy`, which generates or reads only the atoms of its
windows), and one ``Allreduce(SUM)`` of ``[energy, atoms, tiles]`` in float64
gives the total on every rank. With a checkpoint directory every rank records
its progress after each chunk of windows, so a killed run resumes. The timing breakdown and the peak memory of every
rank are gathered to rank 0 for the report. Without mpi4py (``comm=None``) the
same code runs as one process.
"""
from __future__ import annotations

import json
import math
import resource
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def rank_windows(windows: list, rank: int, size: int) -> list:
    """Rank ``rank``'s contiguous share of ``windows``: sizes differ by at most one window."""
    n = len(windows)
    return windows[rank * n // size:(rank + 1) * n // size]


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class CheckpointMismatch(ValueError):
    """A checkpoint directory holds the progress of another run (structure, model or options)."""


def _describe_key(key) -> dict:
    return key if isinstance(key, dict) else {"run": key}


def _load_checkpoint(path: Path, key: dict, energy_map: bool):
    """The saved state of ``path`` if it was written for ``key``; ``None`` when there is none.

    A state written for another key raises :class:`CheckpointMismatch` naming what differs. With
    ``energy_map``, a state whose map is missing or stale (a run without the map continued it) is
    dropped: that rank's windows are recomputed to build the map (``state['restarted']``)."""
    if path is None or not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointMismatch(f"checkpoint {path} cannot be read ({exc}): remove it or use another "
                                 f"checkpoint directory") from None
    saved, want = _describe_key(state.get("key")), _describe_key(key)
    if saved != want:
        differ = sorted(k for k in set(saved) | set(want) if saved.get(k) != want.get(k))
        what = ", ".join(differ)
        raise CheckpointMismatch(
            f"checkpoint in {path.parent} belongs to another run: {path.name} was written for a different "
            f"{what} ({'; '.join(f'{k}: {saved.get(k)!r} there, {want.get(k)!r} now' for k in differ)[:600]}). "
            f"Remove it or use another checkpoint directory")
    if energy_map:
        map_path = _map_path(path)
        if not state.get("has_map") or not map_path.exists():
            return {"restarted": "the checkpoint has no energy map (it was run without --map): recomputing "
                                 "this rank's windows to build it"}
        state["map"] = np.load(map_path)
    return state


def _map_path(path: Path) -> Path:
    return path.with_suffix(".map.npy")


def _save_checkpoint(path: Path, state: dict, tile_map):
    from tfatoms._io import atomic_path, write_json

    map_path = _map_path(path)
    if tile_map is not None:
        with atomic_path(map_path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, tile_map)
    elif map_path.exists():
        map_path.unlink()                      # would go stale: the state below says there is no map
    state = {k: v for k, v in state.items() if k != "map"}
    state["has_map"] = tile_map is not None
    write_json(path, state, indent=None)       # written last: vouches for the map


def agree_errors(comm, error):
    """Raise the first rank's error on every rank (so no rank waits forever for one that failed)."""
    errors = [error] if comm is None else comm.allgather(error)
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        kind, message = first
        raise (CheckpointMismatch if kind == "CheckpointMismatch" else ValueError)(message)


def distributed_energy(predictor, sheet, comm=None, energy_map: bool = False, progress: bool = False,
                       checkpoint_dir=None, run_key="", chunk_windows: int = 32,
                       allow_empty: bool = False) -> dict:
    """Total EDNN energy of ``sheet`` over the ranks of ``comm`` (an mpi4py communicator or None).

    Each rank works through its windows in chunks of ``chunk_windows``; with
    ``checkpoint_dir`` it records its progress there after every chunk (one file
    per rank), and a rerun with the same ranks and ``run_key`` continues where it
    stopped. ``run_key`` (a string, or a dict of named parts such as the content hashes of
    the structure and the model) must identify everything the energy depends on: a
    checkpoint written for another key raises :class:`CheckpointMismatch` on every rank
    (nothing is overwritten or silently reused). Returns (on every rank) a dict with the
    totals, and on rank 0 also the per-rank timings of this run (``ranks``: one dict per
    rank) and their max/min. ``atoms_per_s`` counts only the atoms computed in this run
    (``n_atoms_computed``; ``n_atoms_resumed`` came from the checkpoint). A sheet with no
    atoms raises ``ValueError`` unless ``allow_empty``.
    """
    from tqdm.auto import tqdm

    from tfatoms.inference.sheet import _EMPTY, as_sheet

    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    chunk_windows = int(chunk_windows)
    if chunk_windows < 1:
        raise ValueError(f"chunk_windows must be a positive integer, got {chunk_windows}")
    sheet = as_sheet(sheet)
    if not allow_empty and hasattr(sheet, "__len__") and len(sheet) == 0:
        raise ValueError(_EMPTY)
    grid = predictor.grid(sheet)
    windows = grid.windows(predictor.window_tiles)
    mine = rank_windows(windows, rank, size)
    ckpt, error, state = None, None, None
    key = dict(_describe_key(run_key), grid=str(grid), windows=predictor.window_tiles, rank=f"{rank}/{size}")
    if checkpoint_dir is not None:
        directory = Path(checkpoint_dir)
        ckpt = directory / f"rank{rank:05d}_of_{size:05d}.json"
        try:
            if directory.exists() and not directory.is_dir():
                raise ValueError(f"checkpoint directory {directory} is an existing file, not a directory: "
                                 f"give a directory")
            directory.mkdir(parents=True, exist_ok=True)
            state = _load_checkpoint(ckpt, key, energy_map)
        except (ValueError, OSError) as exc:
            error = (type(exc).__name__, str(exc))
    agree_errors(comm, error)
    restarted = state.pop("restarted") if state is not None and "restarted" in state else None
    if restarted is not None:
        import sys

        print(f"rank {rank}: {ckpt}: {restarted}", file=sys.stderr)
        state = None
    state = state or dict(key=key, done=0, energies=[], atoms=0, tiles=0,
                          seconds=dict(generate=0.0, rasterise=0.0, network=0.0))
    tile_map = state.pop("map", None)
    if energy_map and tile_map is None:
        tile_map = np.zeros(grid.tiles, np.float64)
    windows_resumed, atoms_resumed = state["done"], state["atoms"]
    seconds_resumed = dict(state["seconds"])
    predictor.warm_up()                        # trace the network outside the timed region
    if comm is not None:
        comm.Barrier()
    t0 = time.perf_counter()
    bar = tqdm(total=len(mine), initial=state["done"], desc=f"rank {rank} windows", unit="window",
               disable=not (progress and rank == 0))
    while state["done"] < len(mine):
        chunk = mine[state["done"]:state["done"] + chunk_windows]
        part = predictor.energy(sheet, windows=chunk, out_map=tile_map, allow_empty=True)   # fills its windows
        state["energies"].append(part.energy)
        state["atoms"] += part.n_atoms
        state["tiles"] += part.n_tiles
        for k in state["seconds"]:
            state["seconds"][k] += part.seconds[k]
        state["done"] += len(chunk)
        if ckpt is not None:
            _save_checkpoint(ckpt, state, tile_map)
        bar.update(len(chunk))
        bar.set_postfix(atoms_per_s=f"{(state['atoms'] - atoms_resumed) / (time.perf_counter() - t0):.0f}",
                        refresh=False)
    bar.close()
    seconds = {k: state["seconds"][k] - seconds_resumed[k] for k in state["seconds"]}   # this run's work
    part = SimpleNamespace(energy=math.fsum(state["energies"]), n_atoms=state["atoms"], n_tiles=state["tiles"],
                           tile_energies=tile_map,
                           area=grid.pixels[0] * grid.spacing[0] * grid.pixels[1] * grid.spacing[1])
    t_wait = time.perf_counter()
    local = np.array([part.energy, part.n_atoms, part.n_tiles, part.n_atoms - atoms_resumed], np.float64)
    total = local.copy()
    if comm is not None:
        from mpi4py import MPI

        comm.Barrier()                         # separates load imbalance (wait) from the reduction itself
        t_reduce = time.perf_counter()
        comm.Allreduce(local, total, op=MPI.SUM)
    else:
        t_reduce = time.perf_counter()
    t_end = time.perf_counter()
    stats = dict(rank=rank, windows=len(mine), windows_resumed=windows_resumed, atoms=part.n_atoms,
                 atoms_computed=part.n_atoms - atoms_resumed, tiles=part.n_tiles,
                 generate_s=seconds["generate"], rasterise_s=seconds["rasterise"],
                 network_s=seconds["network"], wait_s=t_reduce - t_wait, reduce_s=t_end - t_reduce,
                 total_s=t_end - t0,
                 peak_memory_mb=peak_memory_mb())
    ranks = [stats] if comm is None else comm.gather(stats, root=0)
    tile_map = part.tile_energies
    if energy_map and comm is not None:
        from mpi4py import MPI

        summed = np.zeros_like(tile_map) if rank == 0 else None
        comm.Reduce(tile_map, summed, op=MPI.SUM, root=0)
        tile_map = summed
    result = dict(energy_eV=float(total[0]), n_atoms=int(round(total[1])), n_tiles=int(round(total[2])),
                  area_A2=part.area, n_ranks=size, n_windows=len(windows))
    if result["n_atoms"] == 0 and not allow_empty:      # a generated sheet whose atoms were all removed
        raise ValueError(_EMPTY)
    result["n_atoms_computed"] = int(round(total[3]))
    result["n_atoms_resumed"] = result["n_atoms"] - result["n_atoms_computed"]
    result["energy_per_atom_eV"] = result["energy_eV"] / max(result["n_atoms"], 1)
    result["energy_per_area_eV_A2"] = result["energy_eV"] / result["area_A2"]
    if rank == 0:
        wall = max(r["total_s"] for r in ranks)
        # throughput of this run's work only: atoms taken from a checkpoint cost no time here
        rate = result["n_atoms_computed"] / wall if wall > 0 else 0.0
        result.update(ranks=ranks, wall_s=wall, windows_resumed=sum(r["windows_resumed"] for r in ranks),
                      atoms_per_s=rate, atoms_per_s_per_rank=rate / size)
        for name in ("generate_s", "rasterise_s", "network_s", "wait_s", "reduce_s", "total_s", "peak_memory_mb"):
            values = [r[name] for r in ranks]
            result[f"{name}_max"], result[f"{name}_min"] = max(values), min(values)
        result["tile_energies"] = tile_map
    return result
