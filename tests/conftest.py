import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NUMBA_NUM_THREADS", "2")
# float32 reductions depend on how many threads split them: fix TensorFlow's thread pools (read when TensorFlow
# starts, also by subprocesses and notebook kernels) so a test gives the same numbers on any machine.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
