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
import os
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


def _load_checkpoint(path: Path, key: str, energy_map: bool):
    if path is None or not path.exists():
        return None
    state = json.loads(path.read_text())
    if state.get("key") != key:
        raise ValueError(f"{path} belongs to another run ({state.get('key')}), not {key}: remove it or use "
                         f"another checkpoint directory")
    if energy_map:
        state["map"] = np.load(path.with_suffix(".map.npy"))
    return state


def _save_checkpoint(path: Path, state: dict, tile_map):
    if tile_map is not None:
        tmp = path.with_name(f"tmp-{os.getpid()}-{path.stem}.map.npy")
        np.save(tmp, tile_map)
        os.replace(tmp, path.with_suffix(".map.npy"))
    tmp = path.with_name(f"tmp-{os.getpid()}-{path.name}")
    tmp.write_text(json.dumps({k: v for k, v in state.items() if k != "map"}))
    os.replace(tmp, path)                      # written last: vouches for the map


def distributed_energy(predictor, sheet, comm=None, energy_map: bool = False, progress: bool = False,
                       checkpoint_dir=None, run_key: str = "", chunk_windows: int = 32) -> dict:
    """Total EDNN energy of ``sheet`` over the ranks of ``comm`` (an mpi4py communicator or None).

    Each rank works through its windows in chunks of ``chunk_windows``; with
    ``checkpoint_dir`` it records its progress there after every chunk (one file
    per rank), and a rerun with the same ranks and ``run_key`` continues where it
    stopped. Returns (on every rank) a dict with the totals, and on rank 0 also the
    per-rank timings (``ranks``: one dict per rank) and their max/min.
    """
    from tqdm.auto import tqdm

    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    predictor.warm_up()                        # trace the network outside the timed region
    if comm is not None:
        comm.Barrier()
    t0 = time.perf_counter()
    grid = predictor.grid(sheet)
    windows = grid.windows(predictor.window_tiles)
    mine = rank_windows(windows, rank, size)
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = Path(checkpoint_dir) / f"rank{rank:05d}_of_{size:05d}.json"
        ckpt.parent.mkdir(parents=True, exist_ok=True)
    key = f"{run_key}|grid={grid}|windows={predictor.window_tiles}|rank={rank}/{size}"
    state = _load_checkpoint(ckpt, key, energy_map) or dict(
        key=key, done=0, energies=[], atoms=0, tiles=0, seconds=dict(generate=0.0, rasterise=0.0, network=0.0))
    tile_map = state.pop("map", None)
    if energy_map and tile_map is None:
        tile_map = np.zeros(grid.tiles, np.float64)
    bar = tqdm(total=len(mine), initial=state["done"], desc=f"rank {rank} windows", unit="window",
               disable=not (progress and rank == 0))
    t_resume = time.perf_counter()
    atoms_resumed = state["atoms"]
    while state["done"] < len(mine):
        chunk = mine[state["done"]:state["done"] + chunk_windows]
        part = predictor.energy(sheet, windows=chunk, out_map=tile_map)     # fills its windows in place
        state["energies"].append(part.energy)
        state["atoms"] += part.n_atoms
        state["tiles"] += part.n_tiles
        for k in state["seconds"]:
            state["seconds"][k] += part.seconds[k]
        state["done"] += len(chunk)
        if ckpt is not None:
            _save_checkpoint(ckpt, state, tile_map)
        bar.update(len(chunk))
        bar.set_postfix(atoms_per_s=f"{(state['atoms'] - atoms_resumed) / (time.perf_counter() - t_resume):.0f}",
                        refresh=False)
    bar.close()
    part = SimpleNamespace(energy=math.fsum(state["energies"]), n_atoms=state["atoms"], n_tiles=state["tiles"],
                           seconds=state["seconds"], tile_energies=tile_map,
                           area=grid.pixels[0] * grid.spacing[0] * grid.pixels[1] * grid.spacing[1])
    t_wait = time.perf_counter()
    local = np.array([part.energy, part.n_atoms, part.n_tiles], np.float64)
    total = local.copy()
    if comm is not None:
        from mpi4py import MPI

        comm.Barrier()                         # separates load imbalance (wait) from the reduction itself
        t_reduce = time.perf_counter()
        comm.Allreduce(local, total, op=MPI.SUM)
    else:
        t_reduce = time.perf_counter()
    t_end = time.perf_counter()
    stats = dict(rank=rank, windows=len(mine), atoms=part.n_atoms, tiles=part.n_tiles,
                 generate_s=part.seconds["generate"], rasterise_s=part.seconds["rasterise"],
                 network_s=part.seconds["network"], wait_s=t_reduce - t_wait, reduce_s=t_end - t_reduce,
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
    result["energy_per_atom_eV"] = result["energy_eV"] / max(result["n_atoms"], 1)
    result["energy_per_area_eV_A2"] = result["energy_eV"] / result["area_A2"]
    if rank == 0:
        wall = max(r["total_s"] for r in ranks)
        result.update(ranks=ranks, wall_s=wall, atoms_per_s=result["n_atoms"] / wall,
                      atoms_per_s_per_rank=result["n_atoms"] / wall / size)
        for key in ("generate_s", "rasterise_s", "network_s", "wait_s", "reduce_s", "total_s", "peak_memory_mb"):
            values = [r[key] for r in ranks]
            result[f"{key}_max"], result[f"{key}_min"] = max(values), min(values)
        result["tile_energies"] = tile_map
    return result
