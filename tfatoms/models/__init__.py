"""Paper architectures built from tfatoms.layers, and the Potential wrapper."""
from tfatoms.models.base import AtomisticModel, AtomwisePropertyModel, example_batch
from tfatoms.models.dtnn import DTNN
from tfatoms.models.ednn import EDNN, dft_tile_cnn, ising_tile_network
from tfatoms.models.potential import Potential
from tfatoms.models.schnet import SchNet

__all__ = ["AtomisticModel", "AtomwisePropertyModel", "example_batch", "DTNN", "EDNN", "Potential", "SchNet",
           "dft_tile_cnn", "ising_tile_network"]
