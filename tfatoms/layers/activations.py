"""Activation functions of SchNet and of the local force DNN.

``shifted_softplus`` is the SchNet non-linearity (Schütt, PhD thesis 2018,
eq. 4.8)::

    ssp(x) = ln(0.5 e^x + 0.5) = softplus(x) - ln 2

It crosses the origin (ssp(0) = 0), is infinitely differentiable and its first
derivative is the logistic sigmoid, which is why it suits models whose forces
are obtained as derivatives of the energy.

``CReLU`` is the concatenated ReLU ``[relu(x), relu(-x)]`` used by the local
force DNN of Kuritz et al.; it keeps the sign information that a plain ReLU
discards and doubles the number of features.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

_LN2 = float(np.log(2.0))


@keras.saving.register_keras_serializable(package="tfatoms")
def shifted_softplus(x):
    """Shifted softplus ``ln(0.5 e^x + 0.5)`` (thesis eq. 4.8), element-wise.

    Computed in the dtype of ``x`` (integer input is converted to the Keras
    float type) without overflow or cancellation:

    * ``x <= 1``: ``log1p(0.5 * expm1(x))``, accurate near 0 (where the result
      is ~x/2) and exactly ``-ln 2`` for very negative ``x``;
    * ``x > 1``: ``softplus(x) - ln 2``, which tends to ``x - ln 2`` and never
      overflows (``ssp(1000) = 1000 - ln 2``).

    Each branch is evaluated on clamped input so that neither produces
    inf/NaN, and the gradient (the sigmoid of ``x``) is finite everywhere,
    also at +-1000, and so are higher derivatives.

    Args:
        x: tensor of any shape.

    Returns:
        Tensor of the same shape and dtype as ``x``.
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, keras.config.floatx())
    one = tf.ones([], dtype=x.dtype)
    small = tf.math.log1p(0.5 * tf.math.expm1(tf.minimum(x, one)))
    large = tf.nn.softplus(tf.maximum(x, one)) - tf.constant(_LN2, dtype=x.dtype)
    return tf.where(x > one, large, small)


@keras.saving.register_keras_serializable(package="tfatoms")
class ShiftedSoftplus(keras.layers.Layer):
    """Layer applying :func:`shifted_softplus` (thesis eq. 4.8) element-wise.

    Input: tensor of any shape (float, computed in the layer's compute dtype).
    Output: same shape.
    """

    def call(self, inputs):
        return shifted_softplus(tf.cast(inputs, self.compute_dtype))

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="tfatoms")
class CReLU(keras.layers.Layer):
    """Concatenated ReLU: ``concat([relu(x), relu(-x)], axis=-1)``.

    Used by the local force DNN of Kuritz et al. Input: ``(..., F)``;
    output: ``(..., 2F)``, the first ``F`` features are ``relu(x)``, the last
    ``F`` are ``relu(-x)``.
    """

    def call(self, inputs):
        x = tf.cast(inputs, self.compute_dtype)
        return tf.concat([tf.nn.relu(x), tf.nn.relu(-x)], axis=-1)

    def compute_output_shape(self, input_shape):
        last = input_shape[-1]
        return tuple(input_shape[:-1]) + (None if last is None else 2 * last,)
