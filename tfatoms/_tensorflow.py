"""Import TensorFlow without its start-up log lines.

TensorFlow prints ``absl::InitializeLog``, ``oneDNN custom operations are on`` and
``cpu_feature_guard`` lines to the C-level stderr while it loads, before
``TF_CPP_MIN_LOG_LEVEL`` takes effect, so setting that variable does not hide them.
Importing this module (every tfatoms sub-package that needs TensorFlow does, first)
sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the user set it, imports TensorFlow with file
descriptor 2 sent to a temporary file, and writes back every line that is not one of
those known start-up notices, so real errors still reach the user. Set
``TFATOMS_TF_LOGS=1`` to see TensorFlow's start-up output unchanged.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile

#: Start-up notices that say nothing about the user's run.
NOISE = re.compile(r"absl::InitializeLog|oneDNN custom operations are on|cpu_feature_guard|"
                   r"To enable the following instructions|rebuild TensorFlow with the appropriate compiler|"
                   r"Could not find cuda drivers|Unable to register cu(DNN|FFT|BLAS) factory")


def _import_quietly():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or os.environ.get("TFATOMS_TF_LOGS"):
        import tensorflow  # noqa: F401,F811
        return
    try:
        saved = os.dup(2)
    except OSError:                    # no stderr to redirect
        import tensorflow  # noqa: F401,F811
        return
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401,F811
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not NOISE.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


_import_quietly()
