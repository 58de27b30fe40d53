"""EDNN energy of a huge periodic porous graphene sheet, streamed and split over MPI ranks.

EDNN paper sec. 3.3 (Figs. 10-12): a 1.0 um^2 porous graphene sheet of 35.2
million atoms, 24.7 min on 448 cores. Each rank takes a contiguous block of the
sheet's windows, generates (or reads) only the atoms of its windows, rasterises
them, runs the tile network, and one Allreduce(SUM) adds the float64 partial
energies. Rank 0 prints the total energy, energy per atom and per area, the atom
count and a timing breakdown (max/min over ranks) and writes them as JSON.

    mpirun -n 448 python mpi/infer_sheet.py                 # the paper's 1 um^2 sheet (581 x 587 blocks)
    mpirun -n 2 python mpi/infer_sheet.py --area 0.01       # 1/100 of it
    python mpi/infer_sheet.py --structure sheet.xyz         # a sheet from a file (one process)

Without mpi4py it runs as one process. The default model is the packaged
pretrained EDNN (``tfatoms.pretrained.load_ednn``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--area", type=float, help="sheet area in um^2 (default 1.0: the paper's sheet)")
    size.add_argument("--side", type=float, help="sheet side in Angstrom (square, rounded to whole blocks)")
    size.add_argument("--blocks", type=int, nargs=2, metavar=("BX", "BY"),
                      help="sheet size in blocks of 17.22 x 17.04 A (192 x 192 pixels)")
    size.add_argument("--structure", help="read the sheet from an extended XYZ or HDF5 file instead")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated porous sheet")
    p.add_argument("--model", default="ednn_porous_graphene",
                   help="pretrained model: a name in tfatoms/pretrained or a path DIR/NAME(.npz)")
    p.add_argument("--batch", type=int, default=256, help="tiles per network call")
    p.add_argument("--window-tiles", type=int, default=16, help="tiles per window side")
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32",
                   help="network precision (mixed_bfloat16: bfloat16 convolutions, float32 head and sums)")
    p.add_argument("--threads", type=int, help="threads per rank (default: the cores of this node / local ranks)")
    p.add_argument("--out", default="sheet_energy.json", help="JSON report written by rank 0")
    p.add_argument("--map", help="also write the per-tile energy map (eV) to this .npy file")
    p.add_argument("--map-downsample", type=int, default=1, help="sum k x k tiles per map pixel")
    p.add_argument("--progress", action="store_true", help="progress bar (rank 0's windows)")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="record each rank's progress in DIR; rerunning with the same ranks and options resumes")
    return p.parse_args(argv)


def get_comm():
    """MPI.COMM_WORLD, or None when mpi4py is missing (then refuse to run as several copies)."""
    try:
        from mpi4py import MPI
    except ImportError:
        for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS"):
            if int(os.environ.get(var, "1")) > 1:
                raise SystemExit("mpirun started several processes but mpi4py is not installed: "
                                 "pip install 'tfatoms[mpi]' (or run one process)")
        return None
    return MPI.COMM_WORLD


def local_ranks(comm) -> int:
    if comm is None:
        return 1
    from mpi4py import MPI

    return comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()


def set_threads(n: int):
    """Threads of TensorFlow and numba for this rank (before TensorFlow starts)."""
    import numba
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:      # TensorFlow already running in this process (main() called from Python): keep it
        pass
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def build_sheet(args):
    from tfatoms.data.sheets import BLOCK_SIZE, PorousSheet, read_sheet

    if args.structure:
        return read_sheet(args.structure), f"file {args.structure}"
    if args.blocks:
        blocks = tuple(args.blocks)
    else:
        side = args.side if args.side is not None else math.sqrt(args.area if args.area is not None else 1.0) * 1e4
        if not (math.isfinite(side) and side > 0):
            raise SystemExit(f"sheet side must be positive, got {side} A")
        blocks = (max(1, round(side / BLOCK_SIZE[0])), max(1, round(side / BLOCK_SIZE[1])))
    sheet = PorousSheet(blocks, seed=args.seed)
    return sheet, f"generated porous graphene, {blocks[0]} x {blocks[1]} blocks, seed {args.seed}"


def load_model(spec: str):
    from pathlib import Path

    from tfatoms.pretrained import load_ednn

    path = Path(spec)
    if path.suffix in (".npz", ".json") or path.parent != Path("."):
        return load_ednn(path.with_suffix("").name, path.parent)
    return load_ednn(spec)


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    comm = get_comm()
    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = args.threads or max(1, cores // local_ranks(comm))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    set_threads(threads)
    import keras
    import numpy as np

    from tfatoms.inference.parallel import distributed_energy
    from tfatoms.inference.sheet import SheetPredictor

    t0 = time.perf_counter()
    if args.precision != "float32":
        keras.mixed_precision.set_global_policy(args.precision)
    try:
        sheet, description = build_sheet(args)
        model, meta = load_model(args.model)
        predictor = SheetPredictor.from_ednn(model, meta["spacing"], meta["gamma"], batch_tiles=args.batch,
                                             window_tiles=args.window_tiles)
        predictor.grid(sheet)                      # a sheet that is not whole tiles fails here, on every rank
    except (ValueError, FileNotFoundError) as exc:
        if rank == 0:
            print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    t_setup = time.perf_counter() - t0
    run_key = f"{description}|model={args.model}|precision={args.precision}"
    result = distributed_energy(predictor, sheet, comm, energy_map=bool(args.map), progress=args.progress,
                                checkpoint_dir=args.checkpoint, run_key=run_key)
    if rank != 0:
        return None
    tile_map = result.pop("tile_energies")
    result.update(sheet=description, model=args.model, precision=args.precision, threads_per_rank=threads,
                  batch_tiles=args.batch, window_tiles=args.window_tiles, setup_s=t_setup,
                  sheet_size_A=list(sheet.size),
                  paper=dict(n_atoms=35.2e6, wall_min=24.7, cores=448,
                             atoms_per_s_per_core=35.2e6 / (24.7 * 60) / 448))
    result["atoms_per_s_per_core"] = result["atoms_per_s_per_rank"] / threads
    result["ratio_to_paper_per_core"] = result["atoms_per_s_per_core"] / result["paper"]["atoms_per_s_per_core"]
    print(f"sheet: {description}, {sheet.size[0]:.1f} x {sheet.size[1]:.1f} A, {result['n_atoms']:,} atoms, "
          f"{result['n_tiles']:,} tiles on {size} rank(s) x {threads} thread(s)")
    print(f"energy {result['energy_eV']:.6f} eV = {result['energy_per_atom_eV']:.6f} eV/atom = "
          f"{result['energy_per_area_eV_A2']:.6f} eV/A^2")
    print(f"time {result['wall_s']:.2f} s (setup {t_setup:.1f} s): generate {result['generate_s_max']:.2f}, "
          f"rasterise {result['rasterise_s_max']:.2f}, network {result['network_s_max']:.2f}, "
          f"wait {result['wait_s_max']:.2f}, reduce {result['reduce_s_max']:.4f} s (max over ranks); {result['atoms_per_s']:,.0f} atoms/s, "
          f"{result['atoms_per_s_per_core']:,.0f} atoms/s/core (paper: "
          f"{result['paper']['atoms_per_s_per_core']:.0f}); peak memory {result['peak_memory_mb_max']:.0f} MB/rank")
    if args.map:
        k = max(1, args.map_downsample)
        nx, ny = (tile_map.shape[0] // k) * k, (tile_map.shape[1] // k) * k
        small = tile_map[:nx, :ny].reshape(nx // k, k, ny // k, k).sum(axis=(1, 3))
        np.save(args.map, small)
        result["map"] = dict(path=args.map, downsample=k, shape=list(small.shape))
    tmp = f"{args.out}.tmp-{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(result, fh, indent=1)
    os.replace(tmp, args.out)
    return result


if __name__ == "__main__":
    main()
