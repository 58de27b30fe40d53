"""Datasets: one loader or generator per source; atomistic ones are (views of) one AtomsData with units and
metadata, cached as HDF5 keyed by their parameters (:mod:`tfatoms.data.cache`). Ising lattices stay arrays."""
from tfatoms.data.atoms import AtomsData  # noqa: F401  (the one container for atomistic datasets)
