"""Keras layers of tfatoms. Every layer is registered for ``.keras`` serialization
under the package name ``"tfatoms"`` and cites the equation it implements."""
import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)
from tfatoms.layers.tiles import TileExtract, TileSum
from tfatoms.layers.activations import CReLU, ShiftedSoftplus, shifted_softplus
from tfatoms.layers.radial import CosineCutoff, GaussianRBF
from tfatoms.layers.embedding import AtomEmbedding
from tfatoms.layers.readout import AtomwiseReadout
from tfatoms.layers.cfconv import CFConv, SchNetInteraction
from tfatoms.layers.tensor_interaction import FactorizedTensorInteraction

__all__ = [
    "TileExtract", "TileSum", "CReLU", "ShiftedSoftplus", "shifted_softplus", "CosineCutoff",
    "GaussianRBF", "AtomEmbedding", "AtomwiseReadout", "CFConv", "SchNetInteraction",
    "FactorizedTensorInteraction",
]
