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


@tf.custom_gradient
def _ssp(x):
    """``relu(x) + log1p(0.5 expm1(-|x|))`` with the gradient ``sigmoid(x)`` (also at ``x = 0``, where the
    split into ``relu`` and ``|x|`` would give autodiff's 0); the gradient is itself differentiable, so
    second derivatives (forces in the loss) are ``sigmoid'(x)``."""
    y = tf.nn.relu(x) + tf.math.log1p(0.5 * tf.math.expm1(-tf.abs(x)))

    def grad(dy):
        return dy * tf.sigmoid(x)

    return y, grad


@keras.saving.register_keras_serializable(package="tfatoms")
def shifted_softplus(x):
    """Shifted softplus ``ln(0.5 e^x + 0.5)`` (thesis eq. 4.8), element-wise.

    Computed in the dtype of ``x`` (integer input is converted to the Keras
    float type) as ``max(x, 0) + log1p(0.5 * expm1(-|x|))``: two transcendentals per
    element, no overflow (only ``exp`` of non-positive numbers) and no cancellation
    (near 0 the result is ``x - x/2 + x^2/8``, accurate to relative precision; exactly
    ``-ln 2`` for very negative ``x`` and ``x - ln 2`` for very large ``x``). The
    gradient is the logistic sigmoid, finite everywhere (also at +-1000), given
    explicitly (:func:`_ssp`), and so are higher derivatives. (It used to evaluate two
    clamped branches, four transcendentals per element, and pick one: 1.3-1.8x slower
    SchNet filters, the same values to round-off; ``BENCHMARKS.md``.)

    Args:
        x: tensor of any shape.

    Returns:
        Tensor of the same shape and dtype as ``x``.
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, keras.config.floatx())
    return _ssp(x)


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
