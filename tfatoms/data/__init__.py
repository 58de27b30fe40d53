"""Datasets: one loader or generator per source, returning arrays with their units, cached as HDF5."""
