"""Paper architectures built from tfatoms.layers, and the Potential wrapper."""
from tfatoms.models.base import AtomisticModel, example_batch
from tfatoms.models.ednn import EDNN, dft_tile_cnn, ising_tile_network
from tfatoms.models.potential import Potential

__all__ = ["AtomisticModel", "example_batch", "EDNN", "Potential", "dft_tile_cnn", "ising_tile_network"]
