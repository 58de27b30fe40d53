"""Energies and forces of many structures with any shipped or saved model, split over MPI ranks.

For screening: reads every structure of ``--input`` (extended XYZ or any file ``ase.io`` reads, an ASE db,
or a tfatoms AtomsData ``.h5``), splits them over the ranks in global batches of ``--batch-size``, predicts
energies (and forces, unless ``--no-forces``) with ``--model``, and rank 0 writes one file in input order:

* ``.h5``: the input AtomsData plus ``predicted_energy`` (eV) and ``predicted_forces`` (eV/A);
* anything else (``.xyz``, ``.extxyz``): extended XYZ with the same two entries in each frame's info/arrays
  (the input's own labels kept beside them).

    mpirun -n 4 python mpi/predict.py --input structures.xyz --model schnet_rmd17_ethanol --out predicted.xyz
    python mpi/predict.py --input data.h5 --model my_model.keras --out predicted.h5 --checkpoint ckpt/

Every structure is predicted in the same padded batch on any number of ranks, so the output is the same bit for
bit with 1, 2 or 448 ranks (at the same ``--threads``; :mod:`tfatoms.inference.structures`). ``--checkpoint DIR``
stores each finished batch; a rerun after a kill, with any rank count, computes only the missing batches, and a
checkpoint of another input or model is an error naming what differs. Paths and switches are checked before any
work; a bad one is ``error: ...`` on stderr (rank 0) with exit code 2.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tfatoms.reproduce.ranks import (RankParser, check_checkpoint_dir, check_output_path, default_threads, fail,
                                     set_threads, start)


def parse_args(argv=None):
    from tfatoms.reproduce.cli import positive

    p = RankParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help="structures: extended XYZ (or any ase.io format), ASE db, or .h5")
    p.add_argument("--model", required=True, help="a model shipped in tfatoms/pretrained (by name) or a .keras file")
    p.add_argument("--out", required=True, help="output file: .h5 (AtomsData) or extended XYZ")
    p.add_argument("--batch-size", type=positive(int), default=32, help="structures per batch (default 32)")
    p.add_argument("--no-forces", action="store_true", help="energies only")
    p.add_argument("--threads", type=positive(int),
                   help="TensorFlow threads per rank (default: the node's cores / local ranks)")
    p.add_argument("--checkpoint", metavar="DIR", help="store finished batches in DIR; a rerun resumes")
    p.add_argument("--progress", action="store_true", help="a progress bar on rank 0")
    return p.parse_args(argv)


def validate_args(args):
    source = Path(args.input)
    if not source.is_file():
        raise ValueError(f"--input {args.input}: no such file")
    check_output_path(args.out, "--out")
    if Path(args.out).absolute() == source.absolute():
        raise ValueError(f"--out {args.out} is the input file: give another name")
    check_checkpoint_dir(args.checkpoint)


def read_input(path: str):
    from tfatoms.data.atoms import AtomsData

    if path.endswith((".h5", ".hdf5")):
        return AtomsData.read_hdf5(path)
    return AtomsData.read(path)


def write_output(path: str, data, energy, forces):
    """The input with the predictions, atomically (nothing half-written is left behind)."""
    import numpy as np

    from tfatoms._io import atomic_path
    from tfatoms.data.atoms import AtomsData

    props = dict(data.properties)
    props["predicted_energy"] = energy
    per_atom = set(data.per_atom)
    if forces is not None:
        props["predicted_forces"] = forces
        per_atom.add("predicted_forces")
    units = dict(data.units, predicted_energy="eV", **({"predicted_forces": "eV/A"} if forces is not None else {}))
    out = AtomsData(data.numbers, data.positions, data.ptr, cell=data.cell, pbc=data.pbc, properties=props,
                    per_atom=per_atom, units=units, metadata=data.metadata)
    if path.endswith((".h5", ".hdf5")):
        out.write_hdf5(path)
        return
    import ase.io

    frames = []
    for k, atoms in enumerate(out):
        atoms.calc = None
        atoms.info["predicted_energy"] = float(energy[k])
        if forces is not None:
            atoms.arrays["predicted_forces"] = np.asarray(forces[out.atom_slice(k)], np.float64)
        frames.append(atoms)
    with atomic_path(path) as tmp:
        ase.io.write(tmp, frames, format="extxyz")


def main(argv=None) -> dict | None:
    args, comm, rank, size = start(parse_args, validate_args, argv)
    threads = args.threads or default_threads(comm)
    set_threads(threads)                     # before TensorFlow starts
    from tfatoms.calculators import resolve_model
    from tfatoms.inference.structures import predict_structures, structures_sha256

    t0 = time.perf_counter()
    try:
        data = read_input(args.input)
        if len(data) == 0:
            raise ValueError(f"--input {args.input} holds no structures")
        model, description, _ = resolve_model(args.model, "mpi/predict.py")
        if hasattr(model, "energy_model"):
            model = model.energy_model
        result = predict_structures(model, data, batch_size=args.batch_size, forces=not args.no_forces, comm=comm,
                                    checkpoint_dir=args.checkpoint, progress=args.progress,
                                    input_key=structures_sha256(data))
    except (ValueError, FileNotFoundError) as exc:
        raise fail(rank, exc) from None
    if rank != 0:
        return None
    write_output(args.out, data, result["energy"], result["forces"])
    n_atoms = int(data.ptr[-1])
    print(f"{len(data):,} structures ({n_atoms:,} atoms) of {args.input} predicted with the {description} on "
          f"{size} rank(s) x {threads} thread(s) in {time.perf_counter() - t0:.1f} s "
          f"(predicting {result['predict_s_max']:.1f} s, max over ranks)")
    if result["batches_resumed"]:
        print(f"resumed from {args.checkpoint}: {result['batches_resumed']} of {result['n_batches']} batches were "
              f"done")
    print(f"written to {Path(args.out).absolute()}")
    return dict(result, n_structures=len(data), n_atoms=n_atoms, ranks=size, threads=threads)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
