"""Extensive deep neural networks (Mills et al., Chem. Sci. 10, 4129 (2019)).

``EDNN`` cuts an image into focus + context tiles with :class:`TileExtract`, runs
one shared tile network on all tiles in a single batched call and sums the
tile contributions per example with :class:`TileSum` (EDNN Appendix). Because
the sum runs over however many tiles the image has, a model trained on 8x8
Ising configurations predicts 128x128 ones unchanged, as long as the pixel
size stays the same and the image size is a multiple of the focus.

Tile networks of the paper (sec. 2.1):

* :func:`ising_tile_network`: dense ``32 (f + 2c)^2 -> 64 -> 64 -> 1``, ReLU.
* :func:`dft_tile_cnn`: 13 convolutions (2 reducing 3x3/64 stride 2, 6
  non-reducing 4x4/16, 1 reducing 3x3/64, 4 non-reducing 3x3/32), FC 1024,
  FC 1, ReLU, zero ("same") padding. In 3D the kernels are cubes.
"""
from __future__ import annotations

import keras

from tfatoms.layers.tiles import TileExtract, TileSum, check_finite_images
from tfatoms.models.cnnas import NETWORK_1_CONVS, cnn_regressor


@keras.saving.register_keras_serializable(package="tfatoms")
class EDNN(keras.Model):
    """Extensive deep neural network: ``eps_hat_b = sum_tiles tile_network(tile)`` (EDNN Appendix).

    Args:
        tile_network: a Keras model mapping ``(T, f + 2c, ..., C)`` tiles to ``(T, K)``.
        focus, context: ``f`` and ``c`` in pixels.
        spatial_dims: 2 or 3.
        return_map: also return the per-tile contributions on the tile grid.

    Input: images ``(B, L_1, ..., L_d, C)`` with every ``L_k`` a multiple of ``f``, all pixels
    finite. Both are checked in every mode (eager: ``ValueError``; inside a ``tf.function`` or
    ``predict`` trace where sizes are unknown: ``tf.errors.InvalidArgumentError`` with the same
    explanation), so a wrong size or a NaN pixel never gives a silent prediction. XLA compiles
    assertions out, so the model declares ``supports_jit = False``: Keras' ``predict``/``fit``
    then do not switch XLA on by themselves (their ``jit_compile="auto"`` does on a GPU). Under
    an explicit XLA compile (``tf.function(jit_compile=True)``, ``BatchTrainer(jit_compile=True)``)
    a size that is not a multiple of ``f`` still fails (when compiling), a NaN pixel is not caught.
    Output: ``(B, K)`` extensive predictions (and ``(B, L_1/f, ..., K)`` maps with ``return_map``).
    """

    def __init__(self, tile_network, focus: int, context: int, spatial_dims: int = 2,
                 return_map: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.tile_network = tile_network
        self.tiles = TileExtract(focus, context, spatial_dims)
        self.tile_sum = TileSum(return_map=return_map)
        self.focus, self.context = self.tiles.focus, self.tiles.context
        self.spatial_dims, self.return_map = spatial_dims, return_map
        self.supports_jit = False   # keep Keras' automatic XLA off: it would compile the input checks out

    def call(self, images, training=False):
        images = check_finite_images(images, "EDNN input images")
        tiles, grid = self.tiles(images)
        return self.tile_sum(self.tile_network(tiles, training=training), grid)

    def get_config(self):
        config = super().get_config()
        config.update(tile_network=keras.saving.serialize_keras_object(self.tile_network),
                      focus=self.focus, context=self.context, spatial_dims=self.spatial_dims,
                      return_map=self.return_map)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tile_network"] = keras.saving.deserialize_keras_object(config["tile_network"])
        return cls(**config)


def ising_tile_network(focus: int = 1, context: int = 1, channels: int = 1, name: str = "ising_tile_net"):
    """Fully connected tile network for the Ising model (EDNN sec. 2.1): ``32 t^2 -> 64 -> 64 -> 1``.

    ``t = f + 2c`` is the tile width. With f = 1 this has 25,601 parameters at
    c = 1 and 183,041 at c = 3 (the paper: "over 7 times").
    """
    t = focus + 2 * context
    inputs = keras.Input((t, t, channels))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(32 * t * t, activation="relu")(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x), name=name)


#: (filters, kernel, stride) of the 13 convolutions of the EDNN DFT tile CNN (EDNN sec. 2.1): CNNAS Network 1.
DFT_TILE_CNN_CONVS = NETWORK_1_CONVS


def dft_tile_cnn(tile_size: int = 128, channels: int = 1, spatial_dims: int = 2, dense_units: int = 1024,
                 output_scale: float = 1.0, output_offset: float = 0.0, name: str = "ednn_tile_cnn"):
    """The EDNN tile CNN of sec. 2.1 (13 conv + FC 1024 + FC 1, ReLU, zero padding).

    For 128x128 tiles (f = 64, c = 32) it has 8.5 M parameters (8.4 M in the FC
    1024 layer) and costs about 200 MFLOP per tile (``bench/bench_tile_cnn.py``).
    The tile output is ``output_offset + output_scale * FC1``: set them to the
    mean energy of a tile's area and its spread in the training data so that
    the network starts at the right scale (a fixed affine map, no weights).
    The ReLU layers use He-normal initial weights: with Keras' default
    Glorot-uniform the activations shrink about 100x through the 14 ReLU
    layers and training on porous graphene stalled at the mean predictor
    (the paper does not state its initialisation); the output layer starts at
    zero, so an untrained model predicts ``output_offset`` per tile.
    """
    return cnn_regressor((tile_size,) * spatial_dims + (channels,), DFT_TILE_CNN_CONVS, dense_units,
                         output_scale, output_offset, name=name, output_name="energy_scale")
