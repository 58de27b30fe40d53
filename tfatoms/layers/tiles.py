"""The EDNN domain decomposition as Keras layers (EDNN paper, Appendix).

An image ``x`` of shape ``(B, L_1, ..., L_d, C)`` (``d`` = 2 or 3) is cut into
``prod(L_k / f)`` tiles per example. Tile ``(i_1, ..., i_d)`` covers the pixels
``[i_k f - c, i_k f + f + c)`` along each axis, indices taken modulo ``L_k``
(periodic padding by the context ``c``)::

    X[b, i, j] = x[b, i f - c : i f + f + c, j f - c : j f + f + c]     (Appendix)
    eps_hat[b] = sum_ij C[b, i, j],  C[b, i, j] = net(X[b, i, j])

``TileExtract`` returns all tiles stacked into one batch ``(B * T, f + 2c, ..., C)``
(example-major, then the tile grid in C order) for one call of the tile network,
together with the tile grid ``(B, n_1, ..., n_d)`` that ``TileSum`` needs to
sum the tile contributions back per example.

The wrap-around is done with one modular ``gather`` per spatial axis, so there
is no Python loop over tiles and the context may exceed the focus (``c > f``)
or even wrap several times around a small image.

Memory: the tiles hold ``((f + 2c) / f) ** d`` times the pixels of the input,
e.g. 4x for the porous-graphene setting f = 64, c = 32 in 2D, 9x for the Ising
setting f = 1, c = 1, 27x for f = c in 3D; the intermediate of the first gather
holds ``(f + 2c) / f`` times the input. Stream huge images window by window
(``tfatoms.inference``) rather than extracting all their tiles at once.

Shape checks hold in every mode: a static size (eager calls, fixed-size
traces) is checked when the graph is built (``ValueError``); a size unknown at
trace time (``tf.function`` with ``None`` spatial sizes, ``model.predict``
after it has seen several sizes and retraced with unknown ones) is checked when
the graph runs, by assertions the tile indices depend on
(``tf.errors.InvalidArgumentError`` carrying the same message; under XLA,
which compiles assertions out, a size that is not a multiple of the focus
still fails, when compiling, in a reshape of the tile starts). Without them
the modular gather would silently cut a 400-pixel image into six 64-pixel
tiles and leave its last 16 pixels out of every focus.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfatoms._validation import non_negative_int, positive_int


def tile_grid_shape(image_shape, focus: int, context: int) -> tuple[int, ...]:
    """Number of tiles along each spatial axis of an image of spatial shape ``image_shape``.

    Raises ``ValueError`` when a size is not a multiple of the focus or is
    smaller than the context (the periodic padding would then need pixels the
    image does not have twice over, which is almost always a mistake).
    """
    grid = []
    for axis, n in enumerate(image_shape):
        if n is None:
            grid.append(None)
            continue
        if n % focus:
            raise ValueError(f"image size {n} along spatial axis {axis} is not a multiple of the focus f={focus}")
        if context > n:
            raise ValueError(f"context c={context} is larger than the image size {n} along spatial axis {axis}")
        grid.append(n // focus)
    return tuple(grid)


def runtime_shape_checks(images, focus: int, context: int, spatial_dims: int) -> list:
    """Assertions (graph ops) that the spatial sizes of ``images`` unknown at trace time are
    multiples of ``focus`` and at least ``context``; empty when every size is static (those are
    checked by :func:`tile_grid_shape` at trace time). Make the computation depend on them
    (``tf.control_dependencies``) so that they run inside any graph."""
    static, dynamic = images.shape, tf.shape(images)
    checks = []
    for axis in range(spatial_dims):
        if static[1 + axis] is not None:
            continue
        size = dynamic[1 + axis]
        checks.append(tf.debugging.Assert(
            tf.equal(tf.math.floormod(size, focus), 0),
            [f"the image size along spatial axis {axis} is not a multiple of the focus f={focus}; image size:",
             size]))
        checks.append(tf.debugging.Assert(
            size >= context,
            [f"the context c={context} is larger than the image size along spatial axis {axis}; image size:",
             size]))
    return checks


def check_finite_images(images, what: str = "images"):
    """``images`` (a float tensor) after checking that every entry is finite.

    Eager: ``ValueError`` naming the first bad pixel. In a graph:
    ``tf.debugging.assert_all_finite`` (one fused pass over the input), which raises
    ``tf.errors.InvalidArgumentError`` with the same explanation when the graph runs.
    Integer and boolean inputs are returned unchanged (they cannot hold NaN).
    """
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        return images
    message = (f"{what} contain NaN or infinite pixels; a non-finite input would make the prediction "
               f"NaN (check the structure and the image generation)")
    if tf.executing_eagerly():
        finite = tf.math.is_finite(images)
        if not bool(tf.reduce_all(finite)):
            first = tuple(int(k) for k in tf.where(tf.logical_not(finite))[0].numpy())
            raise ValueError(f"{message}; first at index {first}")
        return images
    return tf.debugging.assert_all_finite(images, message)


@keras.saving.register_keras_serializable(package="tfatoms")
class TileExtract(keras.layers.Layer):
    """Cut images into periodic EDNN tiles of size ``f + 2c`` at stride ``f`` (EDNN Appendix).

    Args:
        focus: focus width ``f`` in pixels (stride between tiles).
        context: context width ``c`` in pixels added on each side.
        spatial_dims: 2 or 3.

    Input: ``(B, L_1, ..., L_d, C)`` float, every ``L_k`` a multiple of ``f`` and >= ``c``.
    Output: ``(tiles, grid)`` with ``tiles`` of shape ``(B * T, f + 2c, ..., f + 2c, C)``,
    ``T = prod(L_k / f)``, ordered example-major then tile grid in C order, and ``grid``
    an int32 vector ``[B, L_1 / f, ..., L_d / f]`` for :class:`TileSum`.
    """

    def __init__(self, focus: int, context: int, spatial_dims: int = 2, **kwargs):
        kwargs.setdefault("autocast", False)  # a pure gather: keep the input dtype (bfloat16 ... float64)
        super().__init__(**kwargs)
        self.focus = positive_int(focus, "focus")
        self.context = non_negative_int(context, "context")
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
        self.spatial_dims = spatial_dims

    @property
    def tile_size(self) -> int:
        return self.focus + 2 * self.context

    def _check_shape(self, shape):
        if len(shape) != self.spatial_dims + 2:
            raise ValueError(
                f"TileExtract with spatial_dims={self.spatial_dims} expects inputs of rank "
                f"{self.spatial_dims + 2} (batch, {self.spatial_dims} spatial axes, channels), got shape {tuple(shape)}")
        return tile_grid_shape(shape[1:-1], self.focus, self.context)

    def build(self, input_shape):
        self._check_shape(input_shape)
        super().build(input_shape)

    def call(self, images):
        f, c, t = self.focus, self.context, self.tile_size
        static = images.shape
        self._check_shape(static)
        checks = runtime_shape_checks(images, f, c, self.spatial_dims)
        if checks:  # sizes unknown at trace time: the gather indices depend on the assertions
            with tf.control_dependencies(checks):
                images = tf.identity(images)
        dynamic = tf.shape(images)
        x = images
        n_tiles = []
        for k in range(self.spatial_dims):
            axis = 1 + 2 * k  # earlier axes were each split into (tile index, pixel in tile)
            if static[1 + k] is not None:
                size = static[1 + k]
                n = size // f
                starts = tf.range(n) * f
            else:
                size = dynamic[1 + k]
                n = size // f
                # the first pixel of each tile, by a reshape that fails unless size = n f: XLA compiles
                # the Assert ops out, but not this (with XLA the size is known when compiling)
                starts = tf.reshape(tf.range(size), tf.stack([n, f]))[:, 0]
            # index[i, p] = (i f - c + p) mod L : periodic padding and strided slicing in one gather
            index = tf.math.floormod(starts[:, None] - c + tf.range(t)[None, :], size)
            x = tf.gather(x, index, axis=axis)
            n_tiles.append(n)
        # x: (B, n_1, t, n_2, t[, n_3, t], C) -> (B, n_1, n_2[, n_3], t, t[, t], C)
        d = self.spatial_dims
        perm = [0] + [1 + 2 * k for k in range(d)] + [2 + 2 * k for k in range(d)] + [2 * d + 1]
        x = tf.transpose(x, perm)
        channels = static[-1] if static[-1] is not None else dynamic[-1]
        tiles = tf.reshape(x, [-1] + [t] * d + [channels])
        grid = tf.stack([tf.cast(dynamic[0], tf.int32)] + [tf.cast(n, tf.int32) for n in n_tiles])
        return tiles, grid

    def compute_output_spec(self, images):
        shape = images.shape
        grid = self._check_shape(shape)
        if shape[0] is not None and None not in grid:
            n = shape[0] * int(np.prod(grid))
        else:
            n = None
        tiles = keras.KerasTensor((n,) + (self.tile_size,) * self.spatial_dims + (shape[-1],), dtype=images.dtype)
        return tiles, keras.KerasTensor((self.spatial_dims + 1,), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(focus=self.focus, context=self.context, spatial_dims=self.spatial_dims)
        return config


@keras.saving.register_keras_serializable(package="tfatoms")
class TileSum(keras.layers.Layer):
    """Sum per-tile contributions back per example (EDNN Appendix: eps_hat_b = sum_ij C_bij).

    Args:
        return_map: also return the contributions arranged on the tile grid.

    Inputs: ``contributions`` of shape ``(B * T, K)`` (``K`` outputs per tile, in the
    order produced by :class:`TileExtract`) and ``grid`` from :class:`TileExtract`.
    Output: ``(B, K)`` sums, summed in the contributions' dtype; with ``return_map``
    a tuple ``(sums, map)`` where ``map`` has shape ``(B, n_1, ..., n_d, K)``.
    """

    def __init__(self, return_map: bool = False, **kwargs):
        kwargs.setdefault("autocast", False)  # sum in the contributions' own dtype (float64 for huge sheets)
        super().__init__(**kwargs)
        self.return_map = bool(return_map)

    def call(self, contributions, grid):
        k = tf.shape(contributions)[-1]
        per_example = tf.reshape(contributions, tf.stack([grid[0], -1, k]))
        sums = tf.reduce_sum(per_example, axis=1)
        if not self.return_map:
            return sums
        return sums, tf.reshape(contributions, tf.concat([grid, [k]], axis=0))

    def compute_output_spec(self, contributions, grid):
        sums = keras.KerasTensor((None, contributions.shape[-1]), dtype=contributions.dtype)
        if not self.return_map:
            return sums
        n_spatial = grid.shape[0] - 1 if grid.shape[0] is not None else 2
        return sums, keras.KerasTensor((None,) * (n_spatial + 1) + (contributions.shape[-1],), dtype=contributions.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(return_map=self.return_map)
        return config
