"""The eight MD17 molecules and their MD protocol (thesis ch. 5, Appendix A.2; Chmiela et al. 2017).

MD17 (benzene, toluene, malonaldehyde, salicylic acid, aspirin, ethanol, uracil, naphthalene) is ab-initio MD
at 500 K with a 0.5 fs step, PBE+vdW-TS. The files cannot be downloaded here, so the package generates the same
protocol with a reference of :mod:`tfatoms.data.reference` (GFN2-xTB by default) through
:func:`tfatoms.data.molecular_md.cached_md_dataset`: seeded noise, relaxation with the reference, Langevin MD at
500 K started at 1,000 K, cached and resumable.

Starting geometries (:func:`md17_start`): from QM9 (its DFT-relaxed structure) where the molecule is in it, matched
by RDKit canonical SMILES: benzene, toluene, ethanol and uracil (QM9 holds up to nine heavy atoms, and GDB, its
source, no enols, so not malonaldehyde). Otherwise (malonaldehyde, salicylic acid, aspirin, naphthalene, or without
QM9 at hand) RDKit: seeded ETKDG embeddings, every dihedral about a non-ring single bond set to 0 and 180 degrees,
the lowest MMFF94 minimum kept (so malonaldehyde and salicylic acid keep their intramolecular hydrogen bonds).
Either way the reference relaxes it again before the MD, so the start only has to be the right molecule and
conformer.
"""
from __future__ import annotations

import numpy as np

#: The eight molecules of MD17 as SMILES (malonaldehyde as its Z enol, as in MD17).
MD17_SMILES = {
    "benzene": "c1ccccc1",
    "toluene": "Cc1ccccc1",
    "malonaldehyde": "O=C/C=C\\O",
    "salicylic_acid": "O=C(O)c1ccccc1O",
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "ethanol": "CCO",
    "uracil": "O=c1cc[nH]c(=O)[nH]1",
    "naphthalene": "c1ccc2ccccc2c1",
}
#: MD17's formulas (what :func:`md17_start` must return).
MD17_FORMULAS = {"benzene": "C6H6", "toluene": "C7H8", "malonaldehyde": "C3H4O2", "salicylic_acid": "C7H6O3",
                 "aspirin": "C9H8O4", "ethanol": "C2H6O", "uracil": "C4H4N2O2", "naphthalene": "C10H8"}
#: MD17 (thesis Appendix A.2): 500 K, 0.5 fs.
MD17_PROTOCOL = dict(temperature=500.0, timestep_fs=0.5)


def _molecule_name(name: str) -> str:
    key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    if key not in MD17_SMILES:
        raise ValueError(f"{name!r} is not an MD17 molecule; the eight are {', '.join(MD17_SMILES)}")
    return key


def _rdkit():
    try:
        from rdkit import Chem
        from rdkit.Chem import AllChem
    except ImportError as exc:      # pragma: no cover - depends on the environment
        raise ImportError("MD17 starting geometries need RDKit: pip install 'tfatoms[md17]' (or rdkit)") from exc
    return Chem, AllChem


def canonical_smiles(smiles: str) -> str | None:
    """RDKit's canonical SMILES without stereo/isotopes, ``None`` where RDKit cannot read ``smiles``."""
    Chem, _ = _rdkit()
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(str(smiles))
    finally:
        RDLogger.EnableLog("rdApp.*")
    return None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)


def _rotors(mol) -> list[tuple[int, int, int, int]]:
    """``(A, B, C, D)`` dihedrals about the non-ring single bonds B-C of ``mol`` (hydrogens included, so O-H counts)
    with a neighbour on both sides; A and D the heaviest such neighbours."""
    rotors = []
    for bond in mol.GetBonds():
        if bond.IsInRing() or bond.GetBondType() != bond.GetBondType().SINGLE:
            continue
        b, c = bond.GetBeginAtom(), bond.GetEndAtom()
        sides = []
        for atom, other in ((b, c), (c, b)):
            neighbours = [n for n in atom.GetNeighbors() if n.GetIdx() != other.GetIdx()]
            sides.append(max(neighbours, key=lambda n: (n.GetAtomicNum(), -n.GetIdx())) if neighbours else None)
        if sides[0] is not None and sides[1] is not None:
            rotors.append((sides[0].GetIdx(), b.GetIdx(), c.GetIdx(), sides[1].GetIdx()))
    return rotors


def rdkit_geometry(smiles: str, seed: int = 0, n_conformers: int = 4):
    """``ase.Atoms`` of ``smiles`` with hydrogens, the lowest MMFF94 minimum found: ``n_conformers`` RDKit ETKDG
    embeddings (``randomSeed=seed``), each with every dihedral about a non-ring single bond (O-H included) set to
    0 and to 180 degrees in all combinations, each optimised with MMFF94. ETKDG alone leaves malonaldehyde s-trans
    and the hydroxyl hydrogens of salicylic acid pointing away from their acceptors."""
    import itertools

    from ase import Atoms
    from rdkit.Chem import rdMolTransforms

    Chem, AllChem = _rdkit()
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    ids = list(AllChem.EmbedMultipleConfs(mol, numConfs=int(n_conformers), params=params))
    if not ids:
        raise RuntimeError(f"RDKit could not embed {smiles!r} (seed {seed})")
    rotors = _rotors(mol)
    best_energy, best_positions = np.inf, None
    for conf_id in ids:
        for angles in itertools.product((0.0, 180.0), repeat=len(rotors)):
            trial = Chem.Mol(mol, confId=conf_id)
            conf = trial.GetConformer()
            for rotor, angle in zip(rotors, angles):
                rdMolTransforms.SetDihedralDeg(conf, *rotor, angle)
            field = AllChem.MMFFGetMoleculeForceField(trial, AllChem.MMFFGetMoleculeProperties(trial))
            field.Minimize(maxIts=2000)
            energy = field.CalcEnergy()
            if energy < best_energy - 1e-9:
                best_energy, best_positions = energy, conf.GetPositions()
    return Atoms(numbers=[a.GetAtomicNum() for a in mol.GetAtoms()], positions=best_positions, pbc=False)


def find_in_qm9(qm9, smiles: str, formula: str):
    """The QM9 molecule (``ase.Atoms`` with ``info['index']``) whose SMILES is ``smiles`` (canonical, no stereo),
    among those of ``formula``; ``None`` if QM9 does not hold it. ``qm9``: :class:`tfatoms.data.qm9.QM9`."""
    target = canonical_smiles(smiles)
    for m in qm9.formula_indices(formula):
        if any(canonical_smiles(text) == target for text in str(qm9.smiles[m]).split("\t")):
            return qm9.atoms(int(m))
    return None


def md17_start(name: str, qm9=None, seed: int = 0):
    """``(atoms, source)``: the starting geometry of MD17 molecule ``name`` and where it came from.

    From ``qm9`` (a :class:`tfatoms.data.qm9.QM9`, e.g. :func:`tfatoms.data.qm9.load_qm9`) where it holds the
    molecule, else :func:`rdkit_geometry` with ``seed``. The formula is checked against :data:`MD17_FORMULAS`."""
    key = _molecule_name(name)
    smiles = MD17_SMILES[key]
    atoms, source = None, None
    if qm9 is not None:
        found = find_in_qm9(qm9, smiles, MD17_FORMULAS[key])
        if found is not None:
            from ase import Atoms

            atoms = Atoms(numbers=found.numbers, positions=found.positions, pbc=False)
            source = f"QM9 gdb {found.info.get('index')} ({smiles})"
    if atoms is None:
        atoms = rdkit_geometry(smiles, seed)
        source = f"RDKit ETKDG + MMFF94 from {smiles} (seed {seed})"
    if atoms.get_chemical_formula(mode="hill") != MD17_FORMULAS[key]:
        raise RuntimeError(f"{key}: built {atoms.get_chemical_formula(mode='hill')}, expected "
                           f"{MD17_FORMULAS[key]} ({source})")
    return atoms, source


def md17_dataset(cache_dir, name: str, steps: int, interval: int, calculator: str = "gfn2-xtb", qm9=None,
                 seed: int = 0, progress: bool = True, **kwargs):
    """The MD17-protocol trajectory of ``name`` (500 K, 0.5 fs, ``steps`` steps, a frame every ``interval``) with
    ``calculator``, generated, finished or found under ``cache_dir``
    (:func:`~tfatoms.data.molecular_md.cached_md_dataset`); the :class:`~tfatoms.data.atoms.AtomsData`, whose
    metadata also names the start's source."""
    from tfatoms.data.molecular_md import cached_md_dataset

    key = _molecule_name(name)
    atoms, source = md17_start(key, qm9, seed)
    settings = {**MD17_PROTOCOL, **kwargs}
    data = cached_md_dataset(cache_dir, key, atoms, calculator=calculator, steps=steps, interval=interval,
                             seed=seed, progress=progress, **settings)
    data.metadata = {**(data.metadata or {}), "start_source": source}
    return data
