"""Command-line switches shared by the scripts under ``reproductions/``.

Every reproduction takes ``--quick`` (seconds to a minute, for tests), ``--full``
(the paper's protocol) or neither (the default budget that fits a session here),
plus ``--seed``, ``--out`` (results root: ``results/`` beside the script, wherever it
is run from) and ``--cache-dir`` (datasets and resumable checkpoints;
``$TFATOMS_CACHE`` or ``~/.cache/tfatoms``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfatoms.data.cache import default_cache_dir


def seed_int(text: str) -> int:
    """An argparse type for seeds: integers 0 .. 2**32 - 1 (what numpy and Keras accept)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in 0 .. 2**32 - 1, got {value}")
    return value


def positive(kind, what: str | None = None):
    """An argparse type for numbers > 0 of ``kind`` (int or float), with a message naming the value.

    ``what`` says in the message what the number must be (default ``"a positive integer"`` or ``"a finite number
    > 0"``), e.g. ``positive(float, "a positive area in um^2")``: ``must be a positive area in um^2, got -1``."""
    if what is None:
        what = "a positive integer" if kind is int else "a finite number > 0"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not (value > 0 and value < float("inf")):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def default_results_root(script_file) -> Path:
    """``results/`` beside the script, as an absolute path (so running from elsewhere writes there too)."""
    return Path(script_file).resolve().parent / "results"


def reproduction_parser(doc: str, script: str, full_help: str):
    """Parser with the shared switches; returns ``(parser, budget_group)`` so scripts can add budgets.

    ``--out`` defaults to ``results/`` beside the calling script (read from its frame's
    ``__file__``), an absolute path, so a run from another directory still writes there."""
    caller = sys._getframe(1).f_globals.get("__file__")
    out = default_results_root(caller) if caller else Path("reproductions/results").resolve()
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help=f"seconds to a minute, for tests (writes {script}_quick/)")
    g.add_argument("--full", action="store_true", help=full_help)
    p.add_argument("--seed", type=seed_int, default=0,
                   help="seed of the data split, sampling and weight initialisation (0 .. 2**32-1; default 0)")
    p.add_argument("--out", default=str(out), help="results root (default: %(default)s)")
    p.add_argument("--cache-dir", default=str(default_cache_dir()), help="datasets and checkpoints (resumable)")
    return p, g


def budget_name(args) -> str:
    """``"quick"``, ``"full"``, a ``--budget`` given by name, or ``"default"``."""
    return getattr(args, "budget", None) or ("quick" if args.quick else "full" if args.full else "default")


def results_name(script: str, budget: str, tag: str = "") -> str:
    """Results directory: ``<script>`` for the default budget, ``<script>_<budget>`` otherwise, plus ``_<tag>``."""
    return script + ("" if budget == "default" else f"_{budget}") + (f"_{tag}" if tag else "")


def add_hexagonal_data_arguments(p, training: bool = True) -> None:
    """``--workers`` and ``--frames`` of the hexagonal-sheet reproductions (``tfatoms.data.hexagonal``); with
    ``training`` also ``--max-steps``, ``--time-limit`` (a guard) and ``--translate`` (random translations of the
    training frames)."""
    p.add_argument("--workers", type=positive(int), default=2, help="processes for the xTB MD (default 2)")
    p.add_argument("--frames", help="a frames file (tfatoms.data.hexagonal.write_frames) to take the dataset from "
                                    "instead of running the MD; default: the committed "
                                    "reproductions/data/hexagonal_gfn1xtb_default.npz for the default data budget, "
                                    "if present; 'none': run the MD")
    if training:
        p.add_argument("--max-steps", type=positive(int), help="override the budget's training steps (each model)")
        p.add_argument("--time-limit", type=positive(float),
                       help="guard: minutes of training per model after which to stop at an epoch end")
        p.add_argument("--translate", action="store_true",
                       help="translate every training frame at random (AtomImages translation augmentation)")


def add_reference_option(parser, what: str = "the MD data"):
    """``--reference NAME``: the reference method of :mod:`tfatoms.data.reference` for ``what`` (default GFN2-xTB
    through tblite; ``emt`` for fast tests). Check the parsed value with :func:`check_reference`."""
    parser.add_argument("--reference", default="gfn2-xtb",
                        help=f"reference method of tfatoms.data.reference for {what} (default gfn2-xtb; emt for "
                             f"fast tests)")


def check_reference(parser, args) -> None:
    """Refuse an unknown ``--reference`` or one whose package is missing (exit 2, naming it) before any work."""
    from tfatoms.data.reference import reference_calculator

    try:
        reference_calculator(args.reference)
    except (ValueError, ImportError) as exc:
        parser.error(f"--reference {args.reference}: {exc}")


def add_start_option(parser):
    """``--start qm9|rdkit``: where MD17 molecules start (:func:`tfatoms.data.md17.md17_start`); QM9 through
    :func:`start_qm9`."""
    parser.add_argument("--start", choices=("qm9", "rdkit"), default="qm9",
                        help="starting geometries from QM9 where the molecule is in it (default), or all from RDKit")


def start_qm9(parser, args):
    """The QM9 of ``--start qm9`` (loaded from ``args.cache_dir``), ``None`` for ``--start rdkit``; a missing
    qm9pack is a usage error naming the way out."""
    if args.start != "qm9":
        return None
    from tfatoms.data.qm9 import load_qm9

    try:
        return load_qm9(args.cache_dir)
    except ImportError as exc:
        parser.error(f"--start qm9: {exc}; or use --start rdkit")


def add_molecules_option(parser, default, what: str = "default"):
    """``--molecules a,b,...``: MD17 molecules (:data:`tfatoms.data.md17.MD17_SMILES`), ``default`` a sequence of
    them (``what`` says which in the help). Check the parsed value with :func:`check_molecules`."""
    parser.add_argument("--molecules", default=",".join(default),
                        help=f"comma-separated MD17 molecules ({what}: %(default)s)")


def check_molecules(parser, args) -> None:
    """Refuse an empty ``--molecules`` or a name that is not an MD17 molecule (exit 2, naming it); sets
    ``args.molecule_list`` (in the order given, duplicates dropped)."""
    from tfatoms.data.md17 import MD17_SMILES

    names = [n.strip() for n in args.molecules.split(",") if n.strip()]
    unknown = [n for n in names if n not in MD17_SMILES]
    if not names or unknown:
        parser.error(f"--molecules: {', '.join(unknown) or 'none given'}: the MD17 molecules are "
                     f"{', '.join(MD17_SMILES)}")
    args.molecule_list = list(dict.fromkeys(names))


#: ``tfatoms.train.distribute.STRATEGIES``, spelled here so that ``--help`` answers before TensorFlow loads
#: (importing ``tfatoms.train`` starts it); tests/test_distributed_training.py checks that the two agree.
STRATEGIES = ("none", "mirrored", "multi-worker")


def add_strategy_option(parser):
    """``--strategy none|mirrored|multi-worker``: data-parallel training on ``tf.distribute``
    (:mod:`tfatoms.train.distribute`); start it with :func:`start_strategy`."""
    parser.add_argument("--strategy", choices=STRATEGIES, default="none",
                        help="data-parallel training: 'multi-worker' across processes (TF_CONFIG or a Slurm "
                             "step, see mpi/slurm_train.sh), 'mirrored' across this machine's GPUs; the global "
                             "batch and the results are those of one process (default: none)")


def start_strategy(parser, args):
    """The strategy of ``--strategy`` (``None`` for none), created before other TensorFlow work; a missing
    cluster description is a usage error. A worker other than the chief writes its results to a temporary
    directory (``args.out`` changed), so only the chief's land in the results root."""
    import tempfile

    from tfatoms.train.distribute import is_chief, strategy_from_environment

    try:
        strategy = strategy_from_environment(args.strategy)
    except ValueError as exc:
        parser.error(f"--strategy {args.strategy}: {exc}")
    if not is_chief(strategy):
        args.out = tempfile.mkdtemp(prefix="tfatoms-worker-results-")
    return strategy
