"""Pair geometry computed inside the model, so autodiff sees positions, cell and offsets."""
from __future__ import annotations

import tensorflow as tf

from tfatoms import keys


def pair_vectors(batch):
    """``r_ij = r_j - r_i + offset_ij`` (n_pairs, 3) and ``d_ij = |r_ij|`` (n_pairs,), Angstrom.

    Offsets are the Cartesian shifts of the periodic image of ``j`` (zero for
    molecules); the batch holds no pairs with ``d_ij = 0`` (``build_batch``
    rejects overlapping atoms), so the norm is differentiable everywhere used.
    """
    positions = tf.convert_to_tensor(batch[keys.POSITIONS])
    idx_i, idx_j = batch[keys.IDX_I], batch[keys.IDX_J]
    vectors = tf.gather(positions, idx_j) - tf.gather(positions, idx_i)
    if keys.OFFSETS in batch:
        vectors = vectors + tf.cast(batch[keys.OFFSETS], positions.dtype)
    return vectors, tf.norm(vectors, axis=-1)
