"""What every MPI driver under ``mpi/`` needs: the communicator, ranks per node, threads per rank, and switches
checked before any work with one error line from rank 0.

Without mpi4py a driver runs as one process; started by ``mpirun`` as several copies without mpi4py it
refuses (each copy would do all the work).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path


class RankParser(argparse.ArgumentParser):
    """Bad switches are a ``ValueError`` ("--area must be ..., got -1") that the driver reports once, from rank 0,
    as ``error: ...`` with exit code 2 (:func:`fail`), instead of every rank printing argparse's usage."""

    def error(self, message):
        raise ValueError(re.sub(r"^argument (\S+): ", r"\1 ", message) + " (see --help)")


def check_output_path(path: str, option: str):
    """``path`` can be written as a file: not a directory, and its nearest existing ancestor is a
    writable directory (missing folders are created when it is written)."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{option} {path} is a directory: give a file name")
    ancestor = target.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{option} {path}: {ancestor} is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: directory {ancestor} is not writable")


def check_checkpoint_dir(path: str | None, option: str = "--checkpoint"):
    """``path`` is ``None``, an existing directory, or a directory that can be created."""
    if path is None:
        return
    ckpt = Path(path)
    if ckpt.exists() and not ckpt.is_dir():
        raise ValueError(f"{option} {path} is an existing file: give a directory (it is created if missing)")
    if not ckpt.exists():
        check_output_path(str(ckpt / "x"), option)


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
    """Ranks on this node (1 without MPI)."""
    if comm is None:
        return 1
    from mpi4py import MPI

    return comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()


def default_threads(comm) -> int:
    """This node's cores divided by its ranks (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores // local_ranks(comm))


def set_threads(n: int) -> bool:
    """Threads of TensorFlow (intra-op ``n``, inter-op 1) and numba for this rank; True if applied.

    TensorFlow reads its thread counts once, when its runtime starts: this must run
    before anything executes a TensorFlow op (the drivers call it first). Called later in
    the same process (``main()`` from Python after TensorFlow ran) TensorFlow keeps its
    count and this returns False unless that count already is ``n``; numba's count is
    always set."""
    import numba

    try:
        import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines, where available)
    except ImportError:
        pass
    import tensorflow as tf

    applied = True
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:      # TensorFlow already running in this process: it keeps its thread counts
        applied = tf.config.threading.get_intra_op_parallelism_threads() == n
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    return applied


def fail(rank: int, exc) -> SystemExit:
    """Print ``error: exc`` on rank 0 only; the ``SystemExit(2)`` every rank raises."""
    if rank == 0:
        print(f"error: {exc}", file=sys.stderr)
    return SystemExit(2)


def start(parse_args, validate_args, argv=None):
    """``(args, comm, rank, size)`` of a driver: its switches parsed and its paths validated before any work.

    A bad switch or path is reported once, from rank 0, as ``error: ...`` (exit code 2) on every rank alike.
    """
    try:
        args, bad = parse_args(argv), None
    except ValueError as exc:                      # reported below, once the rank is known
        args, bad = None, exc
    comm = get_comm()
    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    try:
        if bad is not None:
            raise bad
        validate_args(args)
    except ValueError as exc:
        raise fail(rank, exc) from None
    return args, comm, rank, size
