"""The CNNAS networks (Ryczko et al. 2018, sec. 2.3, Fig. 2): deep CNNs on Gaussian images.

Both networks are stacks of *reducing* (stride 2) and *non-reducing* (stride 1)
convolutions with zero ("same") padding, ReLU, no pooling and no dropout,
followed by a fully connected layer of 1024 and a single output.

**Network 1** (dimers) "has the identical architecture used in [34]" (Mills et
al. 2017), whose layer pattern the EDNN paper spells out in its sec. 2.1; we
use exactly that list (:data:`NETWORK_1_CONVS`, 13 convolutions)::

    2 x reducing     3x3, 64 filters, stride 2
    6 x non-reducing 4x4, 16 filters
    1 x reducing     3x3, 64 filters, stride 2
    4 x non-reducing 3x3, 32 filters
    FC 1024, FC 1

**Network 2** (hexagonal sheets) "has fewer reducing convolutional layers" and
was found by removing layers from Network 1; we remove the third reducing
layer (:data:`NETWORK_2_CONVS`, 12 convolutions), so twice as many features
per axis reach the FC layer (the paper's stated motive).

**3-D variants** use 3-D kernels (4x4x4 instead of 4x4) and omit layers "to
accommodate the smaller input dimension" (Fig. 2 is not in our copy of the
text). We keep every reducing layer and keep two of the six 4x4x4 and two of
the four 3x3x3 non-reducing layers (:data:`NETWORK_1_3D_CONVS`): a 4x4x4
convolution of 16 channels at 16^3 voxels costs 16x a 4x4 one at 64^2 pixels,
and the full list would make the 3-D network about 2.5x as expensive per
example as the 2-D one on its 256^2 images.

**Four shifted copies** (:class:`ShiftedCopies`, sec. 2.3): for periodic images
the same network sees four copies shifted and wrapped by (0, 0), (n/2, 0),
(0, n/2) and (n/2, n/2), so each boundary of the original lies at the centre of
at least one copy; the four 1024-feature vectors are concatenated, combined by
FC 1024 and mapped to the output.

**Input check**: :func:`network_1`, :func:`network_2` and
:func:`shifted_copies_network` start with :class:`FiniteImages`, so a NaN or
infinite pixel raises a clear error instead of giving a NaN prediction
(``ValueError`` eager, ``tf.errors.InvalidArgumentError`` inside a graph; one
pass over the input, no weights, so weight files of models built without it
load unchanged).

The initial weights and the output head are those of
:func:`tfatoms.models.ednn.dft_tile_cnn` (He-normal, zero-initialised output
layer, a fixed ``output_offset + output_scale * y`` map; see there why).
"""
from __future__ import annotations

import keras

from tfatoms.layers.tiles import check_finite_images

#: (filters, kernel, stride) of Network 1 (CNNAS sec. 2.3 = the CNN of Mills et al. 2017 as EDNN sec. 2.1 lists it).
NETWORK_1_CONVS = ((64, 3, 2),) * 2 + ((16, 4, 1),) * 6 + ((64, 3, 2),) + ((32, 3, 1),) * 4
#: Network 2: Network 1 without its third reducing layer.
NETWORK_2_CONVS = NETWORK_1_CONVS[:8] + NETWORK_1_CONVS[9:]
#: 3-D Network 1: every reducing layer, two of the six 4x4x4 and two of the four 3x3x3 non-reducing layers.
NETWORK_1_3D_CONVS = ((64, 3, 2),) * 2 + ((16, 4, 1),) * 2 + ((64, 3, 2),) + ((32, 3, 1),) * 2


def conv_stack(x, convs, dense_units: int = 1024):
    """Apply ``convs`` (``(filters, kernel, stride)``, zero padding, ReLU, He-normal), flatten and
    FC ``dense_units`` (ReLU) to the Keras tensor ``x`` of shape ``(B, n1, n2[, n3], C)``."""
    spatial_dims = len(x.shape) - 2
    if spatial_dims not in (2, 3):
        raise ValueError(f"images must be (n1, n2, channels) or (n1, n2, n3, channels), got {tuple(x.shape[1:])}")
    conv = {2: keras.layers.Conv2D, 3: keras.layers.Conv3D}[spatial_dims]
    for filters, kernel, stride in convs:
        x = conv(filters, kernel, strides=stride, padding="same", activation="relu", kernel_initializer="he_normal")(x)
    x = keras.layers.Flatten()(x)
    return keras.layers.Dense(dense_units, activation="relu", kernel_initializer="he_normal")(x)


def scaled_output(x, output_scale: float = 1.0, output_offset: float = 0.0, name: str = "output_scale"):
    """FC 1 (zero-initialised) followed by the fixed map ``output_offset + output_scale * y``.

    Both stay float32 under a mixed (bfloat16) policy: offsets can be ~100 (eV per tile).
    """
    x = keras.layers.Dense(1, kernel_initializer="zeros", dtype="float32")(x)
    return keras.layers.Rescaling(float(output_scale), float(output_offset), name=name, dtype="float32")(x)


@keras.saving.register_keras_serializable(package="tfatoms")
class FiniteImages(keras.layers.Layer):
    """Pass images through unchanged after checking that every pixel is finite (no weights).

    Eager: ``ValueError`` naming the first bad pixel; inside a graph
    (``predict``, ``tf.function``): ``tf.debugging.assert_all_finite``, an
    ``InvalidArgumentError`` with the same explanation. XLA would compile the check out, so the
    layer declares ``supports_jit = False`` and Keras' ``jit_compile="auto"`` (XLA on a GPU)
    leaves a model holding it uncompiled; an explicit XLA compile drops the check.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.supports_jit = False

    def call(self, images):
        return check_finite_images(images, f"{self.name}: input images")

    def compute_output_shape(self, input_shape):
        return input_shape


def cnn_regressor(input_shape, convs, dense_units: int = 1024, output_scale: float = 1.0,
                  output_offset: float = 0.0, name: str = "cnn", output_name: str = "output_scale",
                  check_finite: bool = False) -> keras.Model:
    """``convs`` + FC ``dense_units`` + FC 1: one scalar per ``input_shape`` image.

    ``check_finite``: start with :class:`FiniteImages` (the EDNN tile CNN leaves it out: the
    EDNN checks its whole input once)."""
    inputs = keras.Input(tuple(input_shape))
    x = FiniteImages(name=f"{name}_finite_input")(inputs) if check_finite else inputs
    x = conv_stack(x, convs, dense_units)
    return keras.Model(inputs, scaled_output(x, output_scale, output_offset, output_name), name=name)


def network_1(grid: int, spatial_dims: int = 2, channels: int = 1, name: str = "cnnas_network_1",
              **kwargs) -> keras.Model:
    """CNNAS Network 1 (dimers) for ``grid^spatial_dims`` images; the 3-D variant uses :data:`NETWORK_1_3D_CONVS`.

    ``kwargs``: ``dense_units``, ``output_scale``, ``output_offset`` of :func:`cnn_regressor`."""
    convs = NETWORK_1_CONVS if spatial_dims == 2 else NETWORK_1_3D_CONVS
    kwargs.setdefault("check_finite", True)
    return cnn_regressor((grid,) * spatial_dims + (channels,), convs, name=name, **kwargs)


def network_2(grid: int, channels: int = 1, name: str = "cnnas_network_2", **kwargs) -> keras.Model:
    """CNNAS Network 2 (hexagonal sheets), 2-D: Network 1 without its third reducing layer."""
    kwargs.setdefault("check_finite", True)
    return cnn_regressor((grid, grid, channels), NETWORK_2_CONVS, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="tfatoms")
class ShiftedCopies(keras.layers.Layer):
    """Stack four periodically wrapped copies of ``(B, n1, n2, C)`` images: shifts (0,0), (n1/2,0),
    (0,n2/2), (n1/2,n2/2) -> ``(4B, n1, n2, C)``, copy-major (CNNAS sec. 2.3)."""

    def call(self, images):
        h, w = images.shape[1] // 2, images.shape[2] // 2
        down = keras.ops.roll(images, h, axis=1)
        copies = [images, down, keras.ops.roll(images, w, axis=2), keras.ops.roll(down, w, axis=2)]
        return keras.ops.concatenate(copies, axis=0)

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else 4 * input_shape[0]
        return (batch, *input_shape[1:])


@keras.saving.register_keras_serializable(package="tfatoms")
class CopyConcat(keras.layers.Layer):
    """Undo :class:`ShiftedCopies`' stacking on features: ``(4B, F) -> (B, 4F)``."""

    def call(self, features):
        return keras.ops.concatenate(keras.ops.split(features, 4, axis=0), axis=-1)

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] // 4
        return (batch, 4 * input_shape[1])


def shifted_copies_network(grid, convs=NETWORK_2_CONVS, dense_units: int = 1024, channels: int = 1,
                           output_scale: float = 1.0, output_offset: float = 0.0,
                           name: str = "cnnas_shifted_copies") -> keras.Model:
    """Periodic-image CNN of CNNAS sec. 2.3: one shared ``convs`` + FC network on the four shifted
    copies, FC ``dense_units`` on their concatenated features, FC 1.

    ``grid``: int or ``(n1, n2)`` (even sizes, so the half shifts are exact).
    """
    n1, n2 = (grid, grid) if isinstance(grid, int) else tuple(grid)
    if n1 % 2 or n2 % 2:
        raise ValueError(f"the four shifted copies need even image sizes, got {(n1, n2)}")
    shared_in = keras.Input((n1, n2, channels))
    shared = keras.Model(shared_in, conv_stack(shared_in, convs, dense_units), name=f"{name}_shared")
    inputs = keras.Input((n1, n2, channels))
    x = FiniteImages(name=f"{name}_finite_input")(inputs)
    x = CopyConcat()(shared(ShiftedCopies()(x)))
    x = keras.layers.Dense(dense_units, activation="relu", kernel_initializer="he_normal")(x)
    return keras.Model(inputs, scaled_output(x, output_scale, output_offset), name=name)
