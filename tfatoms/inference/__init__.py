"""Inference on structures larger than training: streamed EDNN energies of huge periodic sheets."""
import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)
from tfatoms.inference.sheet import SheetEnergy, SheetPredictor, TileGrid, as_sheet

__all__ = ["SheetEnergy", "SheetPredictor", "TileGrid", "as_sheet"]
