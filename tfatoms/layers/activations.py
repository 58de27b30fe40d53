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


# Taylor coefficients of ssp(x) - x/2 = ln cosh(x/2) in powers of x^2, from x^2 to x^18 (x^2/8 - x^4/192 + ...);
# below |x| = 0.5 the truncation error is under 1.1e-16 relative (the next term is 2.2e-10 x^20)
_SERIES = (1 / 8, -1 / 192, 1 / 2880, -17 / 645120, 31 / 14515200, -691 / 3832012800, 5461 / 348713164800,
           -929569 / 669529276416000, 3202291 / 25609494822912000)
_SERIES_BELOW = 0.5


def _ssp_series(x):
    x = tf.clip_by_value(x, -_SERIES_BELOW, _SERIES_BELOW)     # the branch not taken stays finite in any dtype
    x2 = x * x
    p = _SERIES[-1]
    for c in _SERIES[-2::-1]:
        p = p * x2 + c
    return 0.5 * x + x2 * p


@tf.custom_gradient
def _ssp(x):
    """``relu(x) + log(0.5 + 0.5 exp(-|x|))`` for ``|x| >= 0.5`` and the Taylor series of ``ln((1 + e^x) / 2)`` to
    ``x^18`` below, with the gradient ``sigmoid(x)`` (also at ``x = 0``, where the split into ``relu`` and ``|x|``
    would give autodiff's 0); the gradient is itself differentiable, so second derivatives (forces in the loss)
    are ``sigmoid'(x)``."""
    y = tf.where(tf.abs(x) < _SERIES_BELOW, _ssp_series(x),
                 tf.nn.relu(x) + tf.math.log(0.5 + 0.5 * tf.exp(-tf.abs(x))))

    def grad(dy):
        return dy * tf.sigmoid(x)

    return y, grad


@keras.saving.register_keras_serializable(package="tfatoms")
def shifted_softplus(x):
    """Shifted softplus ``ln(0.5 e^x + 0.5)`` (thesis eq. 4.8), element-wise.

    Computed in the dtype of ``x`` (integer input is converted to the Keras
    float type) as ``max(x, 0) + log(0.5 + 0.5 exp(-|x|))`` for ``|x| >= 0.5``: one ``exp``
    and one ``log`` per element, both vectorised by XLA and Eigen, and no overflow (only
    ``exp`` of non-positive numbers); for ``|x| < 0.5`` the Taylor series
    ``x/2 + x^2/8 - x^4/192 + ...`` to ``x^18`` (Horner), so there is no cancellation near 0 (the
    result keeps relative precision for tiny ``x``; exactly 0 at 0, ``-ln 2`` for very
    negative ``x`` and ``x - ln 2`` for very large ``x``). Accuracy against 80-digit arithmetic: float64 within
    5e-16 relative, float32 within 3.6e-7 relative (6 units in the last place) and 1.4e-7
    absolute for ``|x| < 2``. The gradient is the logistic sigmoid, finite everywhere (also at
    +-1000), given explicitly (:func:`_ssp`), and so are higher derivatives. History
    (``BENCHMARKS.md``): two clamped branches with four transcendentals, then
    ``max(x, 0) + log1p(0.5 expm1(-|x|))`` (``log1p`` and ``expm1`` are not vectorised by XLA
    on CPU: 2.5x the cost of this form per element).

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
