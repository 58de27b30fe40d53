"""Where datasets and checkpoints are cached: ``$TFATOMS_CACHE`` or ``~/.cache/tfatoms``."""
from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$TFATOMS_CACHE`` if set, else ``~/.cache/tfatoms``."""
    return Path(os.environ.get("TFATOMS_CACHE") or Path.home() / ".cache" / "tfatoms")
