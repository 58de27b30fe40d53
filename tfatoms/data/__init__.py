"""Datasets: one loader or generator per source, returning arrays with their units, cached as HDF5."""
from tfatoms.data.atoms import AtomsData  # noqa: F401  (the one container for atomistic datasets)
