"""Inference on structures larger than training: streamed EDNN energies of huge periodic sheets."""
from tfatoms.inference.sheet import SheetEnergy, SheetPredictor, TileGrid

__all__ = ["SheetEnergy", "SheetPredictor", "TileGrid"]
