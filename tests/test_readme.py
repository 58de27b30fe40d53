"""Every code block of README.md runs here, so the README cannot drift from the code.

* ``python`` blocks run verbatim, each in a fresh interpreter (in a temporary directory,
  with a temporary cache), and must exit 0.
* ``bash`` blocks are read command by command:
  - the test command must be exactly what ``.ci/run`` runs (CI runs it, so it is tested there);
  - every ``pip install -e ".[extra,...]"`` names extras that ``setup.py`` defines;
  - every ``python <script>.py ARGS`` (also after ``mpirun -n N``) must be a file of the repository whose
    argument parser accepts ARGS: the script's ``main(ARGS)`` is called with ``ArgumentParser.parse_args``
    stopped right after parsing, so a renamed or removed switch fails here without running the job;
  - ``sbatch FILE`` must name a shell script that ``bash -n`` accepts;
  - ``jupyter ...`` must name notebooks that exist (the notebooks themselves run in test_notebooks.py).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = [(m["lang"], m["body"], README[:m.start()].count("\n") + 1)
          for m in re.finditer(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", README, re.M | re.S)]
PYTHON = [(body, line) for lang, body, line in BLOCKS if lang == "python"]
COMMANDS = [(cmd.strip(), line) for lang, body, line in BLOCKS if lang == "bash"
            for raw in body.splitlines() if (cmd := raw.split(" #")[0].strip()) and not cmd.startswith("#")]


def test_the_readme_has_code_blocks_and_every_one_has_a_language():
    assert len(PYTHON) >= 3 and len(COMMANDS) >= 5
    untagged = [line for lang, _, line in BLOCKS if lang not in ("python", "bash")]
    assert not untagged, f"README.md code blocks at lines {untagged} have no python/bash tag, so no test runs them"


@pytest.mark.parametrize("body,line", PYTHON, ids=[f"line{line}" for _, line in PYTHON])
def test_python_block_runs(body, line, tmp_path):
    env = dict(os.environ, TFATOMS_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"README.md block at line {line} failed:\n{proc.stderr[-3000:]}"


def _split(command: str) -> list[list[str]]:
    return [shlex.split(part) for part in re.split(r"\s*&&\s*", command)]


class _Parsed(Exception):
    pass


def _parses(script: Path, args: list[str]):
    """Call ``main(args)`` of ``script`` and stop as soon as its argument parser has accepted ``args``."""
    spec = importlib.util.spec_from_file_location(f"readme_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    real = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, argv=None, namespace=None):
        raise _Parsed(real(self, argv, namespace))

    argparse.ArgumentParser.parse_args = parse_then_stop
    try:
        with pytest.raises(_Parsed):
            module.main(args)
    finally:
        argparse.ArgumentParser.parse_args = real


def test_the_test_command_is_what_ci_runs():
    tests = [cmd for cmd, _ in COMMANDS if cmd.endswith("-m pytest")]
    assert len(tests) == 1, tests
    assert tests[0] in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.parametrize("command,line", COMMANDS, ids=[f"line{line}" for _, line in COMMANDS])
def test_shell_command_is_valid(command, line):
    setup = (ROOT / "setup.py").read_text()
    for words in _split(command):
        while re.fullmatch(r"[A-Z_]+=\S*", words[0]):          # VAR=value prefixes
            words = words[1:]
        tool = Path(words[0]).name
        if tool in ("pip", "pip3") or words[:3] == ["python3", "-m", "pip"]:
            for spec in words:
                if (m := re.fullmatch(r"\.?\[([\w,]+)\]|\.\[([\w,]+)\]", spec.strip("'\""))):
                    for extra in (m[1] or m[2]).split(","):
                        assert f'"{extra}"' in setup or extra == "all", f"line {line}: no extra [{extra}] in setup.py"
        elif tool == "jupyter":
            paths = [w for w in words[2:] if not w.startswith("-") and w != "notebook"]
            assert paths and all(list(ROOT.glob(p)) for p in paths), f"line {line}: {command}"
        elif tool == "sbatch":
            proc = subprocess.run(["bash", "-n", str(ROOT / words[1])], capture_output=True, text=True)
            assert proc.returncode == 0, f"line {line}: {words[1]}: {proc.stderr}"
        elif tool in ("mpirun", "mpiexec") or tool.startswith("python"):
            if tool in ("mpirun", "mpiexec"):
                assert words[1] == "-n" and int(words[2]) >= 1, f"line {line}: {command}"
                words = words[3:]
            if words[1:2] == ["-m"] or len(words) < 2:        # python -m venv / -m pytest
                continue
            script = ROOT / words[1]
            assert script.is_file(), f"README.md line {line}: {words[1]} does not exist"
            _parses(script, words[2:])
        else:
            assert tool in ("python3",), f"README.md line {line}: no check for {tool!r}; add one to this test"


@pytest.mark.slow
def test_readme_mpi_command_runs_and_gives_the_atom_count_it_claims(tmp_path):
    """The README's ``mpirun -n 2 ... --area 0.01`` line, run as written (paths made absolute), gives the
    atom count its comment states (about 4 min on 2 cores)."""
    import json

    line = next(cmd for cmd, _ in COMMANDS if "--area 0.01" in cmd)
    claimed = float(re.search(r"([\d,]+) atoms", README[README.index(line):].splitlines()[0])[1].replace(",", ""))
    bindir = Path(sys.executable).parent
    words = [str(bindir / Path(w).name) if w.startswith(".venv/bin/") else str(ROOT / w) if w.startswith("mpi/")
             else w for w in shlex.split(line)]
    if not Path(words[0]).exists():
        pytest.skip("mpirun (pip mpich) is not installed")
    proc = subprocess.run(words, cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "sheet_energy.json").read_text())
    assert result["n_ranks"] == 2 and abs(result["n_atoms"] - claimed) <= 0.01 * claimed, (result["n_atoms"], claimed)
