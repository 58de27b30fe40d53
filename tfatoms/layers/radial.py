"""Radial basis expansion and smooth cutoff of interatomic distances.

``GaussianRBF`` expands a distance in Gaussians on a grid (Schütt, PhD thesis
2018, eq. 3.4)::

    d_hat_ij = [exp(-gamma (d_ij - mu_k)^2)]_k,   mu_k = start + k * spacing,
    0 <= k <= (cutoff - start) / spacing

The original DTNN/SchNet use ``spacing = 0.1`` Angstrom and ``gamma = 10``
Angstrom^-2 (thesis Fig. 3.3, Fig. 4.2).

``CosineCutoff`` is the Behler cosine cutoff ``0.5 (cos(pi d / rc) + 1)`` for
``d < rc`` and 0 beyond; it goes smoothly to zero with zero slope at the
cutoff, so multiplying a filter by it makes the energy continuously
differentiable when neighbours enter or leave the cutoff sphere.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf


def _positive_float(value, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _exact_constant(values: np.ndarray):
    """Initializer returning ``values`` (float64 NumPy) converted once to the weight dtype."""
    def init(shape, dtype=None):
        return tf.constant(np.broadcast_to(values, shape), dtype=dtype)
    return init


def rbf_centres(cutoff: float, spacing: float, start: float = 0.0) -> np.ndarray:
    """Centres ``start + k * spacing`` for ``0 <= k <= (cutoff - start) / spacing``.

    A relative tolerance of 1e-9 on the quotient makes e.g. ``cutoff = 3.0``,
    ``spacing = 0.1`` give the intended 31 centres (``3.0 / 0.1`` is
    ``29.999999999999996`` in floating point).
    """
    q = (cutoff - start) / spacing
    n = int(math.floor(q + 1e-9 * max(1.0, abs(q)))) + 1
    if n < 1:
        raise ValueError(f"no RBF centre between start={start} and cutoff={cutoff}")
    return start + spacing * np.arange(n, dtype=np.float64)


@keras.saving.register_keras_serializable(package="tfatoms")
class GaussianRBF(keras.layers.Layer):
    """Gaussian radial basis expansion of distances (thesis eq. 3.4).

    Args:
        cutoff: largest centre, Angstrom (the last centre is the largest
            ``start + k * spacing`` not exceeding it).
        spacing: distance ``Delta mu`` between centres, Angstrom (0.1 in SchNet).
        gamma: inverse squared width, Angstrom^-2 (10 in SchNet).
        start: first centre, Angstrom.
        trainable: whether centres and widths are trained. This is the Keras
            layer ``trainable`` flag: the layer holds two weights, ``centres``
            and ``gamma`` (one width per centre), that are frozen by default.

    Input: distances, any shape ``(...)``, Angstrom.
    Output: ``(..., n_rbf)`` with ``n_rbf = floor((cutoff - start) / spacing) + 1``,
    dimensionless in ``(0, 1]``.
    """

    def __init__(self, cutoff: float, spacing: float = 0.1, gamma: float = 10.0, start: float = 0.0,
                 trainable: bool = False, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        self.cutoff = _positive_float(cutoff, "cutoff")
        self.spacing = _positive_float(spacing, "spacing")
        self.gamma = _positive_float(gamma, "gamma")
        self.start = float(start)
        if not math.isfinite(self.start) or self.start > self.cutoff:
            raise ValueError(f"start must be finite and <= cutoff, got start={start!r}, cutoff={cutoff!r}")
        self._centres_init = rbf_centres(self.cutoff, self.spacing, self.start)
        self.n_rbf = len(self._centres_init)

    def build(self, input_shape):
        # Initial values given as float64 arrays: keras.initializers.Constant of a
        # Python float would round through float32 even for float64 weights.
        self.centres = self.add_weight(
            name="centres", shape=(self.n_rbf,),
            initializer=_exact_constant(self._centres_init), trainable=True)
        self.widths = self.add_weight(
            name="gamma", shape=(self.n_rbf,),
            initializer=_exact_constant(np.full(self.n_rbf, self.gamma)), trainable=True)

    def call(self, inputs):
        d = tf.cast(inputs, self.compute_dtype)
        mu = tf.cast(self.centres, self.compute_dtype)
        gamma = tf.cast(self.widths, self.compute_dtype)
        return tf.exp(-gamma * tf.square(d[..., tf.newaxis] - mu))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.n_rbf,)

    def get_config(self):
        config = super().get_config()
        config.update(cutoff=self.cutoff, spacing=self.spacing, gamma=self.gamma, start=self.start)
        return config


@keras.saving.register_keras_serializable(package="tfatoms")
class CosineCutoff(keras.layers.Layer):
    """Cosine cutoff ``f(d) = 0.5 (cos(pi d / rc) + 1)`` for ``d < rc``, else 0.

    Args:
        cutoff: cutoff radius ``rc``, Angstrom.

    Input: distances, any shape, Angstrom. Output: same shape, in ``[0, 1]``.
    """

    def __init__(self, cutoff: float, **kwargs):
        super().__init__(**kwargs)
        self.cutoff = _positive_float(cutoff, "cutoff")

    def call(self, inputs):
        d = tf.cast(inputs, self.compute_dtype)
        # tf.constant, not tf.cast: casting a Python float goes through float32.
        pi_over_rc = tf.constant(math.pi / self.cutoff, dtype=self.compute_dtype)
        f = 0.5 * (tf.cos(pi_over_rc * d) + 1.0)
        rc = tf.constant(self.cutoff, dtype=self.compute_dtype)
        return tf.where(d < rc, f, tf.zeros_like(f))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(cutoff=self.cutoff)
        return config
