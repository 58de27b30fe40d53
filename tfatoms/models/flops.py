"""Count the floating-point operations of a Keras model's forward pass.

Counts multiply-adds of ``Dense`` and ``Conv1D/2D/3D`` layers as 2 FLOPs each
(bias additions and activations are ignored: they are under 1% for the paper
networks). Used by the benchmarks to turn tiles/s into GFLOP/s.
"""
from __future__ import annotations

import keras
import numpy as np


def count_flops(model: keras.Model) -> int:
    """Forward FLOPs for one example (batch dimension excluded) of a built functional model."""
    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, keras.layers.Dense):
            total += 2 * int(layer.kernel.shape[0]) * int(layer.units)
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
            kernel = layer.kernel.shape  # (*k, c_in, c_out)
            out_pixels = int(np.prod(layer.output.shape[1:-1]))
            total += 2 * int(np.prod(kernel)) * out_pixels
    return total


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer
