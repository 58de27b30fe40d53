"""Kohn-Sham DFT single points for molecules through PySCF, as an ASE calculator (a reference method).

``reference_calculator("pyscf:PBE/def2-SVP")`` (:mod:`tfatoms.data.reference`) builds :class:`PySCFKS`: restricted
Kohn-Sham, density-fitted Coulomb term (``auxbasis``, ORCA's default for GGAs; rMD17 was computed with ORCA at
PBE/def2-SVP, and PySCF reproduces its ethanol energy to 0.8 meV and forces to 0.08 meV/A this way:
``reproductions/ethanol_pbe_frequencies.py``), energies in eV and analytic forces in eV/A. PySCF is optional
(``pip install 'tfatoms[dft]'``).
"""
from __future__ import annotations

import time

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator, all_changes


class PySCFKS(Calculator):
    """Restricted Kohn-Sham energy (eV) and analytic forces (eV/A) of a neutral closed-shell molecule, PySCF.

    One SCF per geometry, started from the previous geometry's density matrix. ``self.mf`` is the last
    converged mean-field object (for the Hessian). An SCF that does not converge is an error naming the call.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, xc: str = "PBE", basis: str = "def2-svp", auxbasis: str | None = "def2-universal-jfit",
                 grid_level: int = 5, conv_tol: float = 1e-11, **kwargs):
        super().__init__(**kwargs)
        self.xc, self.basis, self.auxbasis = xc, basis, auxbasis
        self.grid_level, self.conv_tol = grid_level, conv_tol
        self.mf, self.n_calls, self.scf_seconds = None, 0, 0.0

    def mean_field(self, atoms):
        from pyscf import dft, gto

        mol = gto.M(atom=[(s, p) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions)],
                    basis=self.basis, unit="Angstrom", charge=0, spin=0, verbose=0)
        mf = dft.RKS(mol, xc=self.xc)
        if self.auxbasis:
            mf = mf.density_fit(auxbasis=self.auxbasis)
        mf.grids.level = self.grid_level
        mf.conv_tol = self.conv_tol
        return mf

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        t0 = time.perf_counter()
        mf = self.mean_field(self.atoms)
        dm0 = self.mf.make_rdm1() if self.mf is not None and self.mf.mol.natm == len(self.atoms) else None
        energy = mf.kernel(dm0=dm0)
        self.n_calls += 1
        if not mf.converged:
            raise RuntimeError(f"PySCF {self.xc}/{self.basis}: SCF did not converge at call {self.n_calls} "
                               f"(geometry {self.atoms.positions.tolist()})")
        grad = mf.nuc_grad_method().kernel()                         # Hartree/Bohr, (n, 3)
        self.mf = mf
        self.scf_seconds += time.perf_counter() - t0
        e = float(energy) * units.Hartree
        self.results = {"energy": e, "free_energy": e, "forces": -np.asarray(grad) * units.Hartree / units.Bohr}
