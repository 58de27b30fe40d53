"""Path-integral (and classical) MD through i-PI, with any ASE calculator (a tfatoms model) over i-PI's socket.

The thesis' C20 study (sec. 5.3, Fig. 5.6) runs SchNet in classical MD and in path-integral MD with 8 beads at
300 K. i-PI (Ceriotti et al., the engine MD17 itself was sampled with) does the ring-polymer integration and
thermostatting; this module only writes its input, starts it (``i-pi`` of the PyPI package ``ipi``) as a
subprocess, serves its force requests with ASE's ``SocketClient`` and an ASE calculator in this process, and
reads back the bead trajectories. No ring-polymer integrator is written here.

:func:`ipi_md` settings: NVT at ``temperature`` with i-PI's PILE-L thermostat (``tau`` the centroid's relaxation
time; i-PI's default ``pile_lambda`` for the internal modes), ``timestep_fs``, ``beads`` replicas (1 is classical MD
in the same engine), the seed of i-PI's generator, a frame of every bead every ``stride`` steps.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np


def ipi_command() -> list[str]:
    """The command line that starts i-PI: the ``i-pi`` script beside this Python, else the one on ``PATH``."""
    script = Path(sys.executable).with_name("i-pi")
    found = str(script) if script.is_file() else shutil.which("i-pi")
    if found is None:
        raise ImportError("path-integral MD needs i-PI: pip install 'tfatoms[pimd]' (the PyPI package ipi)")
    return [sys.executable, found]


def _box(atoms, vacuum: float):
    """A molecule (no periodic direction) centred in a cubic box, or a periodic structure as it is."""
    atoms = atoms.copy()
    atoms.calc = None
    if not atoms.pbc.any():
        span = np.ptp(atoms.positions, axis=0).max()
        atoms.set_cell(np.eye(3) * (span + 2 * vacuum))
        atoms.center()
    elif not atoms.pbc.all():
        raise ValueError("i-PI needs a molecule (no periodic direction) or a fully periodic cell, "
                         f"got pbc={atoms.pbc.tolist()}")
    return atoms


def ipi_input(atoms, beads: int, temperature: float, steps: int, timestep_fs: float, tau_fs: float, seed: int,
              stride: int, address: str) -> str:
    """The i-PI XML input of :func:`ipi_md` (built with ``ipi.scripting`` templates)."""
    from ase import units
    from ipi.scripting.templates import forcefield_xml, motion_nvt_xml, simulation_xml

    output = (f"<output prefix='md'>"
              f"<properties stride='{stride}' filename='out'> [ step, time{{femtosecond}}, "
              f"temperature{{kelvin}}, potential{{electronvolt}}, conserved{{electronvolt}} ] </properties>"
              f"<trajectory filename='pos' stride='{stride}' format='xyz' cell_units='angstrom'> "
              f"positions{{angstrom}} </trajectory></output>")
    xml = simulation_xml([atoms] * int(beads), forcefield_xml("tfatoms", mode="unix", address=address),
                         motion_nvt_xml(timestep_fs * units.fs, thermostat="pile_l", path_integrals=beads > 1,
                                        tau=tau_fs * units.fs),
                         temperature=float(temperature), output=output, safe_stride=max(stride, 100))
    head, tail = xml.split("<system>", 1)
    return f"{head}<total_steps> {int(steps)} </total_steps><prng><seed> {int(seed)} </seed></prng>" \
           f"<system>{tail}"


def ipi_md(atoms, calculator, temperature: float = 300.0, steps: int = 1000, timestep_fs: float = 0.5,
           beads: int = 8, tau_fs: float = 100.0, seed: int = 0, stride: int = 10, workdir=None,
           vacuum: float = 10.0, progress: bool = True, timeout_s: float = 120.0) -> dict:
    """Run i-PI NVT (PIMD with ``beads`` > 1) from ``atoms`` with ``calculator`` serving the forces.

    Args:
        atoms: the starting structure (every bead starts there; a molecule is centred in a cubic box with
            ``vacuum`` A on each side, which i-PI needs and the calculator of a molecule ignores).
        calculator: an ASE calculator (e.g. ``TfatomsCalculator(model)``); called once per bead and step.
        temperature: K; steps: MD steps; timestep_fs: fs; beads: ring-polymer replicas (1: classical MD);
        tau_fs: the PILE-L thermostat's centroid time, fs; seed: i-PI's generator (velocities, noise);
        stride: steps between saved frames; workdir: where i-PI runs and writes (default a fresh temporary
        directory, removed after reading); timeout_s: how long to wait for i-PI to open its socket.

    Returns ``{"positions": (n_frames, beads, n_atoms, 3) A, "step": (n_frames,), "temperature_K":
    (n_frames,) i-PI's estimator, "potential_eV": (n_frames,) the bead-averaged potential, "calls": force
    calls served, "seconds": wall time}``. i-PI's own failure (a bad input, a crash) is a ``RuntimeError``
    with the end of its log.
    """
    import tempfile
    import time

    from ase.calculators.socketio import SocketClient
    from ase.io import read
    from tqdm.auto import tqdm

    from tfatoms._validation import positive_int

    steps, beads, stride = (positive_int(v, n) for v, n in ((steps, "steps"), (beads, "beads"),
                                                            (stride, "stride")))
    if not hasattr(calculator, "get_property"):
        raise TypeError(f"ipi_md needs an ASE calculator, got {type(calculator).__name__}")
    system = _box(atoms, vacuum)
    owned = workdir is None
    work = Path(tempfile.mkdtemp(prefix="tfatoms-ipi-") if owned else workdir)
    work.mkdir(parents=True, exist_ok=True)
    address = f"tfatoms-{os.getpid()}-{abs(hash(str(work.resolve()))) % 10**8}"
    (work / "input.xml").write_text(ipi_input(system, beads, temperature, steps, timestep_fs, tau_fs, seed,
                                              stride, address))
    log = open(work / "ipi.log", "w")
    start = time.perf_counter()
    proc = subprocess.Popen([*ipi_command(), "input.xml"], cwd=work, stdout=log, stderr=subprocess.STDOUT)
    calls = 0
    try:
        client = None
        deadline = time.monotonic() + timeout_s
        while client is None:
            if proc.poll() is not None:
                break
            try:
                client = SocketClient(unixsocket=address)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"i-PI did not open its socket {address} within {timeout_s:g} s") from None
                time.sleep(0.2)
        if client is not None:
            system.calc = calculator
            bar = tqdm(total=steps * beads, disable=not progress, unit="call",
                       desc=f"i-PI {'PIMD' if beads > 1 else 'MD'} ({beads} bead{'s' * (beads > 1)}, "
                            f"{temperature:g} K)")
            with bar:
                for _ in client.irun(system, use_stress=False):
                    calls += 1
                    bar.update()
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    seconds = time.perf_counter() - start
    text = (work / "ipi.log").read_text()
    if rc != 0 or calls == 0:
        raise RuntimeError(f"i-PI failed (exit {rc}, {calls} force calls served) in {work}:\n{text[-2000:]}")
    files = sorted(work.glob("md.pos_*.xyz"), key=lambda f: int(f.stem.rsplit("_", 1)[1]))   # one per bead
    if len(files) != beads:
        raise RuntimeError(f"i-PI wrote {len(files)} bead trajectories in {work}, not {beads}")
    frames = [read(f, index=":", format="xyz") for f in files]
    positions = np.stack([[f.positions for f in bead] for bead in frames], axis=1)
    out = np.loadtxt(work / "md.out", ndmin=2)
    result = {"positions": positions, "step": out[:, 0].astype(int), "temperature_K": out[:, 2],
              "potential_eV": out[:, 3], "conserved_eV": out[:, 4], "calls": calls, "seconds": seconds,
              "beads": beads, "timestep_fs": float(timestep_fs), "temperature": float(temperature)}
    if owned:
        shutil.rmtree(work, ignore_errors=True)
    return result
