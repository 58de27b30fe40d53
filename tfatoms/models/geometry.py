"""Pair geometry computed inside the model, so autodiff sees positions, cell and offsets."""
from __future__ import annotations

import tensorflow as tf

from tfatoms import keys


def pair_offsets(batch, dtype):
    """Cartesian offsets of the image of ``j`` (n_pairs, 3), Angstrom, or ``None`` for a batch without any.

    From ``CELL_SHIFTS``: ``S_ij @ cell`` with the cell of the pair's structure (the
    structure of atom ``i``), computed here so that a strained or changed cell moves the
    images with it (stress by autodiff, variable-cell relaxations). From ``OFFSETS``
    (a batch written by hand): as given. A batch with both is refused: they could disagree.
    """
    if keys.CELL_SHIFTS in batch:
        if keys.OFFSETS in batch:
            raise ValueError(f"the batch has both {keys.CELL_SHIFTS!r} and {keys.OFFSETS!r}: give the integer "
                             f"cell shifts (the model computes the offsets from the cell) or the Cartesian "
                             f"offsets, not both")
        shifts = tf.cast(batch[keys.CELL_SHIFTS], dtype)
        cell = tf.cast(batch[keys.CELL], dtype)
        pair_cell = tf.gather(cell, tf.gather(batch[keys.STRUCTURE_INDEX], batch[keys.IDX_I]))
        return tf.einsum("pa,pab->pb", shifts, pair_cell)
    if keys.OFFSETS in batch:
        return tf.cast(batch[keys.OFFSETS], dtype)
    return None


def pair_vectors(batch):
    """``r_ij = r_j - r_i + offset_ij`` (n_pairs, 3) and ``d_ij = |r_ij|`` (n_pairs,), Angstrom.

    Offsets (:func:`pair_offsets`) are the Cartesian shifts of the periodic image of
    ``j`` (zero for molecules); the batch holds no pairs with ``d_ij = 0``
    (the batch builders reject overlapping atoms), so the norm is differentiable everywhere used.
    """
    positions = tf.convert_to_tensor(batch[keys.POSITIONS])
    idx_i, idx_j = batch[keys.IDX_I], batch[keys.IDX_J]
    vectors = tf.gather(positions, idx_j) - tf.gather(positions, idx_i)
    offsets = pair_offsets(batch, positions.dtype)
    if offsets is not None:
        vectors = vectors + offsets
    return vectors, tf.norm(vectors, axis=-1)


def couple_distances(batch, distances):
    """``(distances, inverse)`` for distance-only terms (SchNet's filters, DTNN's ``W^fd d_hat``): with the
    batch's ``PAIR_HALF``/``PAIR_INVERSE`` (:mod:`tfatoms.keys`) the distances of one pair per mirror couple
    and each pair's couple index (``d_ij = d_ji`` exactly, so the terms are computed once per couple and
    gathered back with ``inverse``); without them ``(distances, None)``: every pair's own."""
    inverse = batch.get(keys.PAIR_INVERSE)
    if inverse is None:
        return distances, None
    return tf.gather(distances, batch[keys.PAIR_HALF]), inverse
