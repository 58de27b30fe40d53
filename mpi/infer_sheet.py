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
pretrained EDNN (``tfatoms.pretrained.load_ednn``). The JSON report goes to
``--out`` (default ``sheet_energy.json`` in the current directory); its path is
printed at the end. Every argument and output path is checked before any work
starts; a bad one is reported on stderr as ``error: ...`` with exit code 2.

Threads: ``--threads`` sets TensorFlow's intra-op threads and numba's threads of
every rank before TensorFlow starts. The float32 tile network's sums depend on
the thread count at the level of float32 round-off (about 1e-8 relative), not
on the rank count: with the same ``--threads`` any number of ranks gives the
same energy bit for bit. When :func:`main` is called from Python after
TensorFlow already ran in that process, TensorFlow's thread count can no longer
change: the run says so on stderr and records ``threads_applied: false``.

Checkpoints (``--checkpoint DIR``) are keyed by content: a SHA-256 of the
sheet's atoms (positions, numbers, cell; or of the generated sheet's blocks,
seed and pore parameters) and of the model files, plus the precision, tile grid,
window size and rank count. A rerun after the structure file or the model
changed stops with an error naming what differs (it never reuses or overwrites
the old progress): remove the directory or use another one. Adding ``--map``
to a checkpointed run that had none recomputes the windows to build the map.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from tfatoms.reproduce.ranks import (RankParser as _Parser, check_checkpoint_dir, check_output_path as
                                     _check_output_path, default_threads, fail as _fail, set_threads,
                                     start)


def parse_args(argv=None):
    """The switches; numbers are checked by the shared types of :mod:`tfatoms.reproduce.cli`."""
    from tfatoms.reproduce.cli import positive, seed_int

    p = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--area", type=positive(float, "a positive area in um^2"),
                      help="sheet area in um^2 (default 1.0: the paper's sheet)")
    size.add_argument("--side", type=positive(float, "a positive length in Angstrom"),
                      help="sheet side in Angstrom (square, rounded to whole blocks)")
    size.add_argument("--blocks", type=positive(int, "two positive integers"), nargs=2, metavar=("BX", "BY"),
                      help="sheet size in blocks of 17.22 x 17.04 A (192 x 192 pixels)")
    size.add_argument("--structure", help="read the sheet from an extended XYZ or HDF5 file instead")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the generated porous sheet (its pores)")
    p.add_argument("--model", default="ednn_porous_graphene",
                   help="pretrained model: a name in tfatoms/pretrained or a path DIR/NAME(.npz)")
    p.add_argument("--batch", type=positive(int), default=256, help="most tiles per network call (default 256)")
    p.add_argument("--window-tiles", type=positive(int), default=16, help="tiles per window side (default 16)")
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16", "auto"), default="float32",
                   help="network precision (mixed_bfloat16: bfloat16 convolutions, float32 head and sums, 1.9x "
                        "faster with AVX512_BF16/AMX; auto: that where the CPU has them, else float32)")
    p.add_argument("--threads", type=positive(int),
                   help="TensorFlow and numba threads per rank (default: the cores of this node / local ranks); "
                        "fix it to compare energies bit for bit")
    p.add_argument("--out", default="sheet_energy.json",
                   help="JSON report written by rank 0 (default: sheet_energy.json in the current directory)")
    p.add_argument("--map", help="also write the per-tile energy map (eV, float64) to this .npy file")
    p.add_argument("--map-downsample", type=positive(int), default=1,
                   help="sum k x k tiles per map pixel (1 <= k <= tiles per side; tiles past a multiple of k "
                        "are left out of the map)")
    p.add_argument("--progress", action="store_true", help="progress bar (rank 0's windows)")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="record each rank's progress in DIR; rerunning with the same ranks, structure, model and "
                        "options resumes (another structure or model: an error)")
    return p.parse_args(argv)


def validate_args(args):
    """The checks of paths, which need no TensorFlow, before any work (``ValueError`` naming the option); the
    numbers were checked while parsing."""
    if args.structure is not None:
        structure = Path(args.structure)
        if not structure.exists():
            raise ValueError(f"--structure {args.structure} does not exist")
        if not structure.is_file():
            raise ValueError(f"--structure {args.structure} is not a file")
    _check_output_path(args.out, "--out")
    if args.map:
        _check_output_path(args.map, "--map")
        if Path(args.map).absolute() == Path(args.out).absolute():
            raise ValueError(f"--map and --out are the same file {args.out}")
    check_checkpoint_dir(args.checkpoint)


def build_sheet(args):
    from tfatoms.data.sheets import BLOCK_SIZE, PorousSheet, read_sheet

    if args.structure:
        return read_sheet(args.structure), f"file {args.structure}"
    if args.blocks:
        blocks = tuple(args.blocks)
    else:
        side = args.side if args.side is not None else math.sqrt(args.area if args.area is not None else 1.0) * 1e4
        blocks = (max(1, round(side / BLOCK_SIZE[0])), max(1, round(side / BLOCK_SIZE[1])))
    sheet = PorousSheet(blocks, seed=args.seed)
    return sheet, f"generated porous graphene, {blocks[0]} x {blocks[1]} blocks, seed {args.seed}"


def load_model(spec: str):
    from tfatoms.pretrained import load_ednn, model_location

    return load_ednn(*model_location(spec))


def model_hash(spec: str) -> str:
    """SHA-256 of the model's stored files (weights ``.npz`` and metadata ``.json``)."""
    from tfatoms._io import file_sha256
    from tfatoms.pretrained import model_location

    name, directory = model_location(spec)
    return file_sha256(*(directory / f"{name}{suffix}" for suffix in (".json", ".npz")))


def main(argv=None) -> dict | None:
    args, comm, rank, size = start(parse_args, validate_args, argv)
    threads = args.threads or default_threads(comm)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    threads_applied = set_threads(threads)       # first: TensorFlow reads its thread count when it starts
    import keras
    import numpy as np
    import tensorflow as tf

    from tfatoms._io import atomic_path, write_json
    from tfatoms.inference.parallel import distributed_energy
    from tfatoms.inference.sheet import SheetPredictor

    if not threads_applied and args.threads is not None and rank == 0:     # asked for and not given
        print(f"warning: --threads {threads} not applied to TensorFlow: it was already running in this process "
              f"(main() called from Python), so it keeps its own count "
              f"({tf.config.threading.get_intra_op_parallelism_threads()}, 0 = all cores). Run the script as its "
              f"own process to set it.", file=sys.stderr)
    from tfatoms.inference.precision import bfloat16_in_hardware, resolve_precision
    from tfatoms.reproduce.results import hardware

    t0 = time.perf_counter()
    policy, precision_note = resolve_precision(args.precision)
    emulated = policy == "mixed_bfloat16" and not bfloat16_in_hardware()
    if rank == 0 and (args.precision == "auto" or emulated):
        print(f"precision: {precision_note}", file=sys.stderr if emulated else sys.stdout)
    keras.mixed_precision.set_global_policy(policy)     # also float32: main() called twice in one process
    try:
        sheet, description = build_sheet(args)
        if args.structure and len(sheet) == 0:
            raise ValueError(f"--structure {args.structure} has no atoms")
        model, meta = load_model(args.model)
        predictor = SheetPredictor.from_ednn(model, meta["spacing"], meta["gamma"], batch_tiles=args.batch,
                                             window_tiles=args.window_tiles)
        grid = predictor.grid(sheet)               # a sheet that is not whole tiles fails here, on every rank
        if args.map and args.map_downsample > min(grid.tiles):
            raise ValueError(f"--map-downsample {args.map_downsample} is larger than the tile grid "
                             f"{grid.tiles[0]} x {grid.tiles[1]}: the map would be empty")
        run_key = dict(sheet=sheet.content_hash(), model=model_hash(args.model), precision=policy)
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(rank, exc) from None
    t_setup = time.perf_counter() - t0
    try:
        result = distributed_energy(predictor, sheet, comm, energy_map=bool(args.map), progress=args.progress,
                                    checkpoint_dir=args.checkpoint, run_key=run_key)
    except ValueError as exc:                      # raised on every rank alike (checkpoint of another run)
        raise _fail(rank, exc) from None
    if rank != 0:
        return None
    tile_map = result.pop("tile_energies")
    result.update(sheet=description, model=args.model, model_weights_sha256=meta["check"]["weights_sha256"],
                  model_trained_on=meta.get("trained_on", "the paper's distribution (circular pruned holes, 1000 K)"),
                  precision=policy, precision_requested=args.precision,
                  precision_note=precision_note, hardware=hardware(), threads_per_rank=threads,
                  threads_applied=threads_applied,
                  tf_intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                  batch_tiles=args.batch, window_tiles=args.window_tiles, setup_s=t_setup,
                  sheet_size_A=list(sheet.size), checkpoint_key=run_key if args.checkpoint else None,
                  paper=dict(n_atoms=35.2e6, wall_min=24.7, cores=448,
                             atoms_per_s_per_core=35.2e6 / (24.7 * 60) / 448))
    result["atoms_per_s_per_core"] = result["atoms_per_s_per_rank"] / threads
    result["ratio_to_paper_per_core"] = result["atoms_per_s_per_core"] / result["paper"]["atoms_per_s_per_core"]
    print(f"sheet: {description}, {sheet.size[0]:.1f} x {sheet.size[1]:.1f} A, {result['n_atoms']:,} atoms, "
          f"{result['n_tiles']:,} tiles on {size} rank(s) x {threads} thread(s)")
    if result["windows_resumed"]:
        print(f"resumed from checkpoint {args.checkpoint}: {result['windows_resumed']} of {result['n_windows']} "
              f"windows ({result['n_atoms_resumed']:,} atoms) were done; {result['n_atoms_computed']:,} atoms "
              f"computed now (the throughput below counts these only)")
    print(f"energy {result['energy_eV']:.6f} eV = {result['energy_per_atom_eV']:.6f} eV/atom = "
          f"{result['energy_per_area_eV_A2']:.6f} eV/A^2")
    print(f"time {result['wall_s']:.2f} s (setup {t_setup:.1f} s): generate {result['generate_s_max']:.2f}, "
          f"rasterise {result['rasterise_s_max']:.2f}, network {result['network_s_max']:.2f}, "
          f"wait {result['wait_s_max']:.2f}, reduce {result['reduce_s_max']:.4f} s (max over ranks); "
          f"{result['atoms_per_s']:,.0f} atoms/s, "
          f"{result['atoms_per_s_per_core']:,.0f} atoms/s/core (paper: "
          f"{result['paper']['atoms_per_s_per_core']:.0f}); peak memory {result['peak_memory_mb_max']:.0f} MB/rank")
    if args.map:
        k = args.map_downsample
        nx, ny = (tile_map.shape[0] // k) * k, (tile_map.shape[1] // k) * k
        small = tile_map[:nx, :ny].reshape(nx // k, k, ny // k, k).sum(axis=(1, 3))
        with atomic_path(args.map) as tmp:
            with open(tmp, "wb") as fh:           # a file object: np.save adds no .npy to the name
                np.save(fh, small)
        result["map"] = dict(path=args.map, downsample=k, shape=list(small.shape),
                             tiles_left_out=int(tile_map.size - nx * ny))
        print(f"energy map ({small.shape[0]} x {small.shape[1]}, {k} x {k} tiles per pixel) written to "
              f"{Path(args.map).absolute()}")
    write_json(args.out, result)
    print(f"report written to {Path(args.out).absolute()}")
    return result


if __name__ == "__main__":
    main()
