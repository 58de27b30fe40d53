"""DTNN interaction pass with a factorized tensor layer (Schütt, PhD thesis 2018, sec. 3.2-3.3).

Interaction function (eq. 3.7)::

    v_ij = tanh[ W^xf ( (W^fx x_j + b^f1) o (W^fd d_hat_ij + b^f2) ) ]

with ``W^fx`` (n_factors x n_features), ``W^fd`` (n_factors x n_rbf) mapping
into factor space, ``o`` the Hadamard product and ``W^xf``
(n_features x n_factors) mapping back, without bias. The additive update
(eq. 3.2)::

    x_i^(t+1) = x_i^(t) + sum_{pairs (i, j)} v_ij
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tfatoms._validation import positive_int
from tfatoms.layers.cfconv import _check_indices_rank, aggregate_pairs


@keras.saving.register_keras_serializable(package="tfatoms")
class FactorizedTensorInteraction(keras.layers.Layer):
    """DTNN interaction pass: ``x_i + sum_j v_ij`` with ``v_ij`` from eq. 3.7 (thesis eq. 3.2, 3.7).

    Args:
        n_features: atom feature size (30 in the thesis DTNN).
        n_factors: size of the factor space (60 in the thesis DTNN).

    Call arguments:
        x: ``(n_atoms, n_features)`` float.
        rbf: ``(n_pairs, n_rbf)`` float, radial basis ``d_hat_ij`` (eq. 3.4).
        idx_i: ``(n_pairs,)`` int, atom receiving the perturbation.
        idx_j: ``(n_pairs,)`` int, neighbouring atom.
        filter_index: ``None``, or ``(n_pairs,)`` int: ``rbf`` holds one pair per mirror couple (the batch's
            ``PAIR_HALF``) and pair ``k`` takes row ``filter_index[k]`` of ``W^fd d_hat`` (``PAIR_INVERSE``).

    Returns:
        ``(n_atoms, n_features)``.

    The sum runs over the given pairs; like the thesis DTNN there is no
    smooth cutoff, so pass all pairs of a molecule (or accept that the
    output jumps when a neighbour crosses the neighbour-list cutoff).

    Weights (``get_weights`` order): ``W^fx`` kernel ``(n_features, n_factors)``,
    ``b^f1`` ``(n_factors,)``, ``W^fd`` kernel ``(n_rbf, n_factors)``, ``b^f2``
    ``(n_factors,)``, ``W^xf`` kernel ``(n_factors, n_features)``.
    """

    def __init__(self, n_features: int = 30, n_factors: int = 60, **kwargs):
        super().__init__(**kwargs)
        self.n_features = positive_int(n_features, "n_features")
        self.n_factors = positive_int(n_factors, "n_factors")
        policy = self.dtype_policy
        self.fx = keras.layers.Dense(self.n_factors, dtype=policy, name="fx")
        self.fd = keras.layers.Dense(self.n_factors, dtype=policy, name="fd")
        self.xf = keras.layers.Dense(self.n_features, use_bias=False, dtype=policy, name="xf")

    def build(self, x_shape, rbf_shape):
        if x_shape[-1] is not None and x_shape[-1] != self.n_features:
            raise ValueError(f"FactorizedTensorInteraction expects x with {self.n_features} features, "
                             f"got {tuple(x_shape)}")
        self.fx.build((None, self.n_features))
        self.fd.build((None, rbf_shape[-1]))
        self.xf.build((None, self.n_factors))

    def call(self, x, rbf, idx_i, idx_j, filter_index=None):
        x = tf.cast(x, self.compute_dtype)
        idx_i = tf.convert_to_tensor(idx_i)
        idx_j = tf.convert_to_tensor(idx_j)
        _check_indices_rank(idx_i, idx_j)
        # W^fx x_j + b^f1 is computed once per atom and then gathered per pair.
        hx = tf.gather(self.fx(x), idx_j)
        hd = self.fd(tf.cast(rbf, self.compute_dtype))
        if filter_index is not None:        # rbf of one pair per (i, j) / (j, i) couple, to every pair
            hd = tf.gather(hd, filter_index)
        v = tf.tanh(self.xf(hx * hd))
        return x + aggregate_pairs(v, idx_i, tf.shape(x)[0], "sum")

    def get_config(self):
        config = super().get_config()
        config.update(n_features=self.n_features, n_factors=self.n_factors)
        return config
