"""GFN1-xTB single points with tblite, a quantum-mechanical check of force-field references.

GFN1-xTB (Grimme et al., J. Chem. Theory Comput. 13, 1989 (2017)) through the
``tblite`` ASE calculator; periodic cells work. Cost grows with the cube of the
atom count (60-atom graphene 0.3 s, 540 atoms 260 s here), so it is used on
small cells only.
"""
from __future__ import annotations

import numpy as np

REFERENCE = "GFN1-xTB (tblite)"


def xtb_energy(atoms, method: str = "GFN1-xTB") -> float:
    """Total energy (eV) of ``ase.Atoms`` with tblite's ``method``."""
    try:
        from tblite.ase import TBLite
    except ImportError as exc:
        raise ImportError("tblite is needed for the xTB check: pip install 'tfatoms[refs]'") from exc
    atoms = atoms.copy()
    atoms.calc = TBLite(method=method, verbosity=0)
    energy = float(atoms.get_potential_energy())
    if not np.isfinite(energy):
        raise ValueError(f"{method} returned a non-finite energy for {atoms.get_chemical_formula()}")
    return energy
