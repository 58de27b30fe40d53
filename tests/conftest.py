import importlib.util
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NUMBA_NUM_THREADS", "2")
# float32 reductions depend on how many threads split them: fix TensorFlow's thread pools (read when TensorFlow
# starts, also by subprocesses and notebook kernels) so a test gives the same numbers on any machine.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str, name: str | None = None):
    """Load the script at ``relative_path`` (from the repository root) as a fresh module named ``name`` (default:
    the file's stem). It is not registered in ``sys.modules``; test files use ``from conftest import load_script``."""
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def qm9_cache_dir(tmp_path_factory):
    """One QM9 cache for the whole session: qm9pack's CSVs are parsed once, not once per module."""
    return tmp_path_factory.mktemp("qm9_session_cache")


@pytest.fixture(scope="session")
def qm9(qm9_cache_dir):
    """The whole real QM9 (qm9pack), parsed once per session (modules that test the loader use their own)."""
    from tfatoms.data.qm9 import load_qm9

    return load_qm9(cache_dir=qm9_cache_dir, progress=False)
