"""Paper architectures built from tfatoms.layers, and the Potential wrapper."""
from tfatoms.models.ednn import EDNN, dft_tile_cnn, ising_tile_network
from tfatoms.models.potential import Potential

__all__ = ["EDNN", "Potential", "dft_tile_cnn", "ising_tile_network"]
