"""Command-line switches shared by the scripts under ``reproductions/``.

Every reproduction takes ``--quick`` (seconds to a minute, for tests), ``--full``
(the paper's protocol) or neither (the default budget that fits a session here),
plus ``--seed``, ``--out`` (results root) and ``--cache-dir`` (datasets and
resumable checkpoints; ``$TFATOMS_CACHE`` or ``~/.cache/tfatoms``).
"""
from __future__ import annotations

import argparse

from tfatoms.data.cache import default_cache_dir


def reproduction_parser(doc: str, script: str, full_help: str):
    """Parser with the shared switches; returns ``(parser, budget_group)`` so scripts can add budgets."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help=f"seconds to a minute, for tests (writes {script}_quick/)")
    g.add_argument("--full", action="store_true", help=full_help)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reproductions/results", help="results root")
    p.add_argument("--cache-dir", default=str(default_cache_dir()), help="datasets and checkpoints (resumable)")
    return p, g


def budget_name(args) -> str:
    """``"quick"``, ``"full"``, a ``--budget`` given by name, or ``"default"``."""
    return getattr(args, "budget", None) or ("quick" if args.quick else "full" if args.full else "default")


def results_name(script: str, budget: str, tag: str = "") -> str:
    """Results directory: ``<script>`` for the default budget, ``<script>_<budget>`` otherwise, plus ``_<tag>``."""
    return script + ("" if budget == "default" else f"_{budget}") + (f"_{tag}" if tag else "")
