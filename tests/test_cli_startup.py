"""What a user sees first: importing tfatoms prints nothing, and every script answers ``--help`` (and refuses a
bad switch) without loading TensorFlow. Checked by what is imported, not by timing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "reproductions").glob("*.py")) + [ROOT / "mpi" / "infer_sheet.py"]
PROBE = """
import runpy, sys
sys.argv = [{script!r}, *{args!r}]
try:
    runpy.run_path({script!r}, run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = None
print("EXIT", code, "TENSORFLOW", "tensorflow" in sys.modules)
"""


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFATOMS_TF_LOGS")}
    return env


def test_importing_the_library_prints_nothing():
    proc = subprocess.run([sys.executable, "-c", "import tfatoms.models, tfatoms.inference, tfatoms.train"],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stderr


def test_real_errors_on_stderr_still_reach_the_user():
    code = "import os, tfatoms.models; os.write(2, b'real problem\\n')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.stderr == "real problem\n"


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
@pytest.mark.parametrize("args,code", [(["--help"], 0), (["--seed", "-1"], 2)], ids=["help", "bad-seed"])
def test_script_answers_before_tensorflow_loads(script, args, code):
    proc = subprocess.run([sys.executable, "-c", PROBE.format(script=str(script), args=args)], capture_output=True,
                          text=True, cwd=ROOT, env=_env(), timeout=120)
    assert f"EXIT {code} TENSORFLOW False" in proc.stdout, (proc.stdout[-2000:], proc.stderr[-2000:])
    if code == 0:
        assert "--seed" in proc.stdout
    else:
        assert "--seed" in proc.stderr
