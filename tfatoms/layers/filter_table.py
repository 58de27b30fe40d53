"""SchNet's filter-generating network as a table in the distance: a cubic Hermite spline for fast inference.

The filter ``W(d)`` of a continuous-filter convolution (Schütt, PhD thesis 2018, eq. 4.5 and Fig. 4.2, right) is a
function of one number, the pair distance: ``W(d) = ssp(ssp(d_hat(d) W1 + b1) W2 + b2)`` with the Gaussian expansion
``d_hat`` of eq. 3.4. Evaluating it per pair costs two dense layers and two shifted softplus per filter, the largest
part of an energy-only SchNet prediction (``BENCHMARKS.md``). Its values and first derivatives on a grid of spacing
``h`` define a cubic Hermite spline per interval, four coefficients per filter, whose error is at most
``h^4 / 384 max |W''''|``, that of its slope (the forces) ``O(h^3)``: at ``h = 0.005 A`` with the thesis'
Gaussians (``gamma = 10 A^-2``) both are below float32 round-off (the energies already at 0.01 A, the forces not;
``tests/test_filter_table.py`` measures both against the float64 network). A pair then costs one row gather
(4 x F numbers) and three multiply-adds per filter.

Beyond the last centre of the radial basis plus ``tail`` (where every Gaussian is below ``exp(-gamma tail^2)``,
1e-20 by default) ``W`` is constant, and the table holds its value there: any distance gives the network's value.

The table is built from the weights once (:func:`filter_table`): it does not follow later weight updates, so a model
with tables (:meth:`tfatoms.models.SchNet.with_tabulated_filters`) is for prediction only.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

#: Default grid spacing of the tables, Angstrom: energies and forces within float32 round-off for gamma = 10 A^-2.
DEFAULT_SPACING = 0.005


def _ssp(x):
    return np.logaddexp(x, 0.0) - math.log(2.0)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def filter_values(layers, centres, gamma, d):
    """``(W(d), dW/dd)`` in float64, each ``(len(d), F)``.

    ``layers``: ``(kernel, bias, activation)`` of each dense layer of the filter network, ``activation`` ``"ssp"``
    or ``"linear"``; ``centres`` and ``gamma`` of the Gaussian basis (arrays, one per centre); ``d`` (n,) A."""
    d = np.asarray(d, np.float64)[:, None]
    mu, g = np.asarray(centres, np.float64), np.asarray(gamma, np.float64)
    x = np.exp(-g * (d - mu) ** 2)
    dx = -2.0 * g * (d - mu) * x
    for kernel, bias, activation in layers:
        kernel = np.asarray(kernel, np.float64)
        z, dz = x @ kernel + np.asarray(bias, np.float64), dx @ kernel
        if activation == "ssp":
            x, dx = _ssp(z), _sigmoid(z) * dz
        elif activation == "linear":
            x, dx = z, dz
        else:
            raise ValueError(f"activation must be 'ssp' or 'linear', got {activation!r}")
    return x, dx


def hermite_coefficients(values, slopes, spacing: float) -> np.ndarray:
    """``(n - 1, 4, F)``: on interval ``k``, ``W(d_k + t h) = c0 + c1 t + c2 t^2 + c3 t^3`` for ``t`` in [0, 1],
    from the values and derivatives at the ``n`` grid points."""
    f0, f1 = values[:-1], values[1:]
    s0, s1 = slopes[:-1] * spacing, slopes[1:] * spacing
    return np.stack([f0, s0, 3.0 * (f1 - f0) - 2.0 * s0 - s1, 2.0 * (f0 - f1) + s0 + s1], axis=1)


class FilterTable:
    """The spline of one filter network: ``table(d)`` -> ``(n_pairs, F)`` in ``dtype``.

    ``coefficients`` ``(n_intervals, 4, F)`` from :func:`hermite_coefficients` on the grid ``0, h, 2h, ...``;
    distances past the last grid point take its value (the network is constant there). ``dtype`` float32 or
    float64: the position in the grid needs it (a model computing in bfloat16 casts the result)."""

    def __init__(self, coefficients: np.ndarray, spacing: float, dtype="float32"):
        self.spacing = float(spacing)
        self.n_intervals = int(coefficients.shape[0])
        self.d_max = self.spacing * self.n_intervals
        self.dtype = tf.as_dtype(dtype)
        if self.dtype not in (tf.float32, tf.float64):
            raise ValueError(f"a filter table computes in float32 or float64, got {self.dtype.name}")
        self.coefficients = tf.constant(coefficients, self.dtype)

    def __call__(self, distances):
        u = tf.cast(distances, self.dtype) / tf.constant(self.spacing, self.dtype)
        k = tf.clip_by_value(tf.floor(u), 0.0, float(self.n_intervals - 1))
        t = tf.clip_by_value(u - k, 0.0, 1.0)[:, tf.newaxis]
        c = tf.gather(self.coefficients, tf.cast(k, tf.int32))
        return c[:, 0] + t * (c[:, 1] + t * (c[:, 2] + t * c[:, 3]))


def filter_table(cfconv, rbf, spacing: float = DEFAULT_SPACING, tail: float | None = None) -> FilterTable:
    """The :class:`FilterTable` of a built :class:`~tfatoms.layers.CFConv`'s filter network (without its cutoff
    function, which the layer still applies) on the radial basis ``rbf`` (a built
    :class:`~tfatoms.layers.GaussianRBF`), grid ``spacing`` A, up to the last centre plus ``tail`` A (default: where
    the narrowest Gaussian has fallen below 1e-20)."""
    from tfatoms.layers.activations import shifted_softplus

    centres, gamma = rbf.centres.numpy(), rbf.widths.numpy()
    if not np.all(gamma > 0) or not np.all(np.isfinite(centres)):
        raise ValueError(f"cannot tabulate a radial basis with widths {gamma.min():g}..{gamma.max():g} "
                         f"(must be positive) or non-finite centres")
    if tail is None:
        tail = math.sqrt(46.1 / float(np.min(gamma)))
    layers = []
    for dense in cfconv.filter_network:
        if dense.activation is shifted_softplus:
            act = "ssp"
        elif dense.activation is keras.activations.linear:
            act = "linear"
        else:
            raise ValueError(f"cannot tabulate a filter layer with activation {dense.activation!r}")
        bias = dense.bias.numpy() if dense.use_bias else np.zeros(dense.units)
        layers.append((dense.kernel.numpy(), bias, act))
    end = float(np.max(centres)) + tail
    if cfconv.cutoff is not None:           # W times the cutoff function is 0 beyond the cutoff
        end = min(end, cfconv.cutoff)
    n = int(math.ceil(end / spacing))
    grid = spacing * np.arange(n + 1, dtype=np.float64)
    values, slopes = filter_values(layers, centres, gamma, grid)
    dtype = "float64" if cfconv.compute_dtype == "float64" else "float32"
    return FilterTable(hermite_coefficients(values, slopes, spacing), spacing, dtype=dtype)
