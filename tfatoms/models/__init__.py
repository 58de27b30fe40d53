"""Paper architectures built from tfatoms.layers, and the Potential wrapper."""
import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)
from tfatoms.models.base import AtomisticModel, AtomwisePropertyModel, example_batch
from tfatoms.models.cnnas import network_1, network_2, shifted_copies_network
from tfatoms.models.dtnn import DTNN
from tfatoms.models.ednn import EDNN, dft_tile_cnn, ising_tile_network
from tfatoms.models.local_force import LocalForceDNN
from tfatoms.models.potential import Potential
from tfatoms.models.references import fit_atom_refs, per_atom_scaling
from tfatoms.models.schnet import SchNet

__all__ = ["AtomisticModel", "AtomwisePropertyModel", "example_batch", "DTNN", "EDNN", "LocalForceDNN", "Potential", "SchNet",
           "dft_tile_cnn", "fit_atom_refs", "ising_tile_network", "network_1", "network_2", "per_atom_scaling", "shifted_copies_network"]
