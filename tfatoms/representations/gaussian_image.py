"""Gaussian images of atoms on regular grids (CNNAS paper eq. 1, EDNN paper eq. 2).

Each atom ``i`` at ``r_i`` with atomic number ``Z_i`` is drawn as a Gaussian of
width ``gamma`` (Angstrom) and height ``Z_i``; the image is the sum evaluated at
the points ``r`` of a regular grid::

    V(r) = sum_i Z_i exp(-|r - r_i|^2 / (2 gamma^2))

Axis ``a`` of the returned array runs along cell vector ``a`` (``V[kx, ky]`` in
2D, ``V[kx, ky, kz]`` in 3D, i.e. ``indexing="ij"``); grid point ``k`` along
axis ``a`` sits at fractional coordinate ``k_a / n_a``.

Each Gaussian is evaluated only on its local stencil: the grid points where it
is at least ``tol`` times its peak along each grid axis (radius
:func:`stencil_radius`). On an orthogonal grid the Gaussian is separable
(:func:`rasterize_window`): an atom costs two (three) short 1-D factor vectors,
built with a two-multiplication recurrence instead of one ``exp`` per point,
whose outer product is added to the image, the innermost loop running over the
contiguous last axis. Threads own disjoint bands of rows (axis 0) of the
image, so no two ever write the same pixel; atoms are counting-sorted by (band,
bucket of columns). In 2-D each bucket is accumulated in a small L2-resident
buffer and then added to the image row by row, which streams the image once
instead of hitting it at random. Small jobs run on one thread. Non-orthogonal
cells use an exact, serial, non-separable kernel (:func:`gaussian_image`).
Measured throughput: ``bench/bench_gaussian_image.py``.

The width must be resolved by the grid: ``gamma >= MIN_GAMMA_PER_PIXEL * h``
(0.25 times the largest pixel spacing ``h``; :func:`check_resolvable_width`),
else ``ValueError``. An atom midway between two pixel centres is ``h / 2``
from the nearest one, where its Gaussian keeps ``exp(-h^2 / (8 gamma^2))`` of
its peak per axis: ``exp(-2)`` = 14 % at the limit, but 0.03 % at ``h / 8``
and 4e-6 at ``h / 10``, so a narrower Gaussian gives an image that is almost
all zeros and depends on where atoms fall between pixels. Every use in the
package passes (sheets: gamma = 0.2 A at h = 0.09 A, ratio 2.2; dimers: 0.2 A
on a 10 A box down to 16 pixels, h = 0.625 A, ratio 0.32).
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from tfatoms._validation import atomic_numbers_array, cell_array, finite_array, positive_int, same_length

_BAND = 128    # rows (axis 0) of the image owned by one parallel task; compile-time constant
_BUCKET = 256  # columns (axis 1) of one buffered bucket inside a band
_PARALLEL_MIN_WORK = 2e7   # stencil points + pixels below which one thread is used
#: Smallest Gaussian width accepted, in units of the largest pixel spacing (see the module docstring).
MIN_GAMMA_PER_PIXEL = 0.25


def check_resolvable_width(gamma: float, spacing, what: str = "grid") -> float:
    """Return ``gamma`` after checking that the grid of pixel spacing ``spacing`` (Angstrom per
    axis) resolves it: ``gamma >= MIN_GAMMA_PER_PIXEL * max(spacing)``, else ``ValueError``.

    Below that, an atom between pixel centres contributes almost nothing (``exp(-h^2 / (8 gamma^2))``
    of its peak along an axis of spacing ``h``) and the image is nearly all zeros.
    """
    gamma = float(gamma)
    h = float(np.max(np.asarray(spacing, np.float64)))
    if gamma < MIN_GAMMA_PER_PIXEL * h:
        coarsest = gamma / MIN_GAMMA_PER_PIXEL
        raise ValueError(
            f"gamma = {gamma:g} A is too narrow for the pixel spacing {h:g} A of the {what}: an atom between pixel "
            f"centres would keep only {math.exp(-h * h / (8 * gamma * gamma)):.1e} of its peak, so the image would "
            f"be almost all zeros. Need gamma >= {MIN_GAMMA_PER_PIXEL} x spacing = {MIN_GAMMA_PER_PIXEL * h:g} A: "
            f"use a finer grid (spacing <= {coarsest:g} A) or a wider gamma")
    return gamma


def stencil_radius(gamma: float = 0.2, tol: float = 1e-8) -> float:
    """Distance (Angstrom) at which a Gaussian of width ``gamma`` falls to ``tol`` of its peak.

    ``gamma * sqrt(2 ln(1 / tol))``; atoms farther than this from a window
    (along any axis) do not contribute to it.
    """
    gamma, tol = _check_gamma_tol(gamma, tol)
    return gamma * math.sqrt(2.0 * math.log(1.0 / tol))


# ----------------------------------------------------------------------------- numba kernels

@njit(cache=True, fastmath=False, inline="always")
def _factors(d2, p, q, n, a, scale, out):
    """``out[j] = scale * exp(-a |d + j s|^2)`` for ``j < n``, given ``d2 = |d|^2``,
    ``p = d . s`` and ``q = |s|^2``, by the recurrence f_{j+1} = f_j r_j, r_{j+1} = r_j exp(-2 a q)."""
    f = scale * math.exp(-a * d2)
    r = math.exp(-a * (2.0 * p + q))
    c = math.exp(-2.0 * a * q)
    for j in range(n):
        out[j] = f
        f *= r
        r *= c


@njit(cache=True, fastmath=False)
def _stencil(x, h, radius):
    """First grid index and number of grid points ``k`` with ``|k h - x| <= radius``."""
    lo = math.ceil((x - radius) / h)
    return lo, math.floor((x + radius) / h) - lo + 1


@njit(cache=True, fastmath=False)
def _images(lo, n, start, size, period):
    """Range ``m_min..m_max`` of periodic images ``m`` for which the stencil ``[lo, lo + n)``
    shifted by ``m * period`` meets the window ``[start, start + size)`` (empty if m_min > m_max).
    ``period == 0`` means no wrap: only ``m = 0``, if it meets the window."""
    u = lo - start
    if n <= 0:
        return 1, 0
    if period == 0 or (size <= period and u >= 0 and u + n <= period):   # no division needed
        if u < size and u + n > 0:
            return 0, 0
        return 1, 0
    return -((u + n - 1) // period), (size - 1 - u) // period


@njit(cache=True, fastmath=False)
def _bin_sweep(pos, weight, h, start, shape, period, radius, bucket, i_a, i_b, slots, spos, sweight, fill):
    """One counting-sort sweep over atoms ``i_a..i_b``: count entries per key into ``slots``
    (``fill`` False), or copy each atom to the entry ``slots[key]`` and advance it (``fill`` True)."""
    band = _BAND
    n_buckets = (shape[1] + bucket - 1) // bucket
    for i in range(i_a, i_b):
        col = np.int64(math.floor(pos[i, 1] / h[1] + 0.5)) - start[1]
        if period[1] > 0 and (col < 0 or col >= shape[1]):
            col %= period[1]
        cb = min(max(col, 0), shape[1] - 1) // bucket
        lo, n = _stencil(pos[i, 0], h[0], radius)
        m_a, m_b = _images(lo, n, start[0], shape[0], period[0])
        last = -1
        for m in range(m_a, m_b + 1):
            g = lo + m * period[0] - start[0]
            first_band = max(max(g, 0) // band, last + 1)
            for b in range(first_band, (min(g + n, shape[0]) - 1) // band + 1):
                key = b * n_buckets + cb
                if fill:
                    k = slots[key]
                    for ax in range(pos.shape[1]):
                        spos[k, ax] = pos[i, ax]
                    sweight[k] = weight[i]
                    slots[key] = k + 1
                else:
                    slots[key] += 1
                last = b


@njit(cache=True, fastmath=False, parallel=True)
def _bin_chunks(pos, weight, h, start, shape, period, radius, bucket, slots, spos, sweight, fill):
    """Run :func:`_bin_sweep` on ``len(slots)`` contiguous chunks of atoms in parallel."""
    n_chunks = slots.shape[0]
    n_atoms = pos.shape[0]
    for c in prange(n_chunks):
        _bin_sweep(pos, weight, h, start, shape, period, radius, bucket, c * n_atoms // n_chunks,
                   (c + 1) * n_atoms // n_chunks, slots[c], spos, sweight, fill)


@njit(cache=True, fastmath=False)
def _bin_atoms(pos, weight, h, start, shape, period, radius, bucket, n_chunks):
    """Counting-sort atoms by (band of axis-0 rows, bucket of axis-1 columns) of the window.

    An atom whose stencil spans several bands (or whose periodic images hit several
    bands) is listed once in each; atoms whose axis-0 stencil misses the window are
    dropped. Returns the sorted copies ``spos`` (n_entries, dim), ``sweight``
    (n_entries,), ``ptr`` and ``n_buckets``: the atoms of (band b, bucket c) are the
    entries ``ptr[b * n_buckets + c]`` to ``ptr[b * n_buckets + c + 1]``, so each thread
    later reads its atoms sequentially. Threads sort contiguous chunks of atoms with
    private counters; entries keep the input order within a key (deterministic).
    """
    dim = pos.shape[1]
    n_buckets = (shape[1] + bucket - 1) // bucket
    n_keys = ((shape[0] + _BAND - 1) // _BAND) * n_buckets
    slots = np.zeros((n_chunks, n_keys), np.int64)
    ptr = np.empty(n_keys + 1, np.int64)
    spos = np.empty((0, dim), pos.dtype)
    sweight = np.empty(0, weight.dtype)
    for sweep in range(2):                   # count, then fill (one compiled specialisation)
        _bin_chunks(pos, weight, h, start, shape, period, radius, bucket, slots, spos, sweight, sweep == 1)
        if sweep == 0:
            total = 0
            for key in range(n_keys):        # counts -> first entry of each (key, chunk)
                ptr[key] = total
                for c in range(n_chunks):
                    count = slots[c, key]
                    slots[c, key] = total
                    total += count
            ptr[n_keys] = total
            spos = np.empty((total, dim), pos.dtype)
            sweight = np.empty(total, weight.dtype)
    return spos, sweight, ptr, n_buckets


@njit(cache=True, fastmath=False, inline="always")
def _add_outer(dst, c, src):
    """``dst[r, t] += c[r] * src[t]`` (slices and ranges from 0, so LLVM vectorises the inner loop)."""
    for r in range(dst.shape[0]):
        row = dst[r]
        cr = c[r]
        for t in range(src.shape[0]):
            row[t] += cr * src[t]


@njit(cache=True, fastmath=False, parallel=True)
def _raster_2d(spos, sweight, h, start, shape, period, radius, a, ptr, n_buckets, bucket, img):
    """Add the separable Gaussians of the binned atoms to the 2-D window ``img`` (float32/64).

    Each parallel task owns one band of rows. Inside it, the atoms of one bucket of
    columns are accumulated in a small zeroed buffer (the bucket plus a stencil-wide
    margin each side, fits in L2) which is then added to the image row by row: the
    image is streamed once instead of being hit at random by every stencil row.
    """
    band = _BAND
    n_bands = (shape[0] + band - 1) // band
    n_max0 = int(2.0 * radius / h[0]) + 2
    pad = int(2.0 * radius / h[1]) + 2      # longest stencil along axis 1
    width = shape[1]
    for b in prange(n_bands):
        f0 = np.empty(n_max0, img.dtype)
        f1 = np.empty(pad + 8, img.dtype)
        b0 = b * band
        b1 = min(b0 + band, shape[0])
        buf = np.empty((b1 - b0, bucket + 2 * pad + 8), img.dtype)
        for cb in range(n_buckets):
            e_a = ptr[b * n_buckets + cb]
            e_b = ptr[b * n_buckets + cb + 1]
            if e_a == e_b:
                continue
            c0 = cb * bucket - pad              # window column of buf[:, 0]
            c1 = c0 + buf.shape[1] - 8          # the last 8 columns take the zero padding
            buf.fill(0.0)
            for e in range(e_a, e_b):
                lo0, n0 = _stencil(spos[e, 0], h[0], radius)
                lo1, n1 = _stencil(spos[e, 1], h[1], radius)
                d = lo1 * h[1] - spos[e, 1]
                _factors(d * d, d * h[1], h[1] * h[1], n1, a, 1.0, f1)
                n1_pad = (n1 + 7) // 8 * 8
                for t in range(n1, n1_pad):
                    f1[t] = 0.0
                m1_a, m1_b = _images(lo1, n1, start[1], shape[1], period[1])
                m0_a, m0_b = _images(lo0, n0, start[0] + b0, b1 - b0, period[0])
                for m0 in range(m0_a, m0_b + 1):
                    g0 = lo0 + m0 * period[0] - start[0]   # window row of the first stencil row
                    r_lo = max(g0, b0)
                    r_hi = min(g0 + n0, b1)
                    d = (lo0 + r_lo - g0) * h[0] - spos[e, 0]
                    _factors(d * d, d * h[0], h[0] * h[0], r_hi - r_lo, a, sweight[e], f0)
                    for m1 in range(m1_a, m1_b + 1):
                        g1 = lo1 + m1 * period[1] - start[1]   # window column of the first stencil column
                        if g1 >= c0 and g1 + n1 <= c1:         # usual case: inside the buffer
                            # rows padded with zeros to a multiple of 8: whole SIMD vectors, no scalar tail
                            _add_outer(buf[r_lo - b0:r_hi - b0, g1 - c0:g1 - c0 + n1_pad], f0, f1[:n1_pad])
                        else:                                  # periodic image across the window: direct
                            t_lo = max(g1, 0) - g1
                            t_hi = min(g1 + n1, width) - g1
                            _add_outer(img[r_lo:r_hi, g1 + t_lo:g1 + t_hi], f0, f1[t_lo:t_hi])
            lo = max(c0, 0)
            hi = min(c1 + 8, width)
            for r in range(b1 - b0):
                dst = img[b0 + r, lo:hi]
                src = buf[r, lo - c0:hi - c0]
                for t in range(hi - lo):
                    dst[t] += src[t]


@njit(cache=True, fastmath=False, parallel=True)
def _raster_3d(spos, sweight, h, start, shape, period, radius, a, ptr, n_buckets, bucket, img):
    """Add the separable Gaussians of the binned atoms to the 3-D window ``img``.

    Each parallel task owns one band of axis-0 planes (3-D stencils are long enough
    to keep the work compute-bound, so no buffering as in :func:`_raster_2d`)."""
    band = _BAND
    n_bands = (shape[0] + band - 1) // band
    n_max0 = int(2.0 * radius / h[0]) + 2
    n_max1 = int(2.0 * radius / h[1]) + 2
    n_max2 = int(2.0 * radius / h[2]) + 2
    s1 = shape[1]
    s2 = shape[2]
    for b in prange(n_bands):
        f0 = np.empty(n_max0, img.dtype)
        f1 = np.empty(n_max1, img.dtype)
        f2 = np.empty(n_max2, img.dtype)
        b0 = b * band
        b1 = min(b0 + band, shape[0])
        for e in range(ptr[b * n_buckets], ptr[(b + 1) * n_buckets]):
            lo0, n0 = _stencil(spos[e, 0], h[0], radius)
            lo1, n1 = _stencil(spos[e, 1], h[1], radius)
            lo2, n2 = _stencil(spos[e, 2], h[2], radius)
            d = lo1 * h[1] - spos[e, 1]
            _factors(d * d, d * h[1], h[1] * h[1], n1, a, 1.0, f1)
            d = lo2 * h[2] - spos[e, 2]
            _factors(d * d, d * h[2], h[2] * h[2], n2, a, 1.0, f2)
            m1_a, m1_b = _images(lo1, n1, start[1], shape[1], period[1])
            m2_a, m2_b = _images(lo2, n2, start[2], shape[2], period[2])
            m0_a, m0_b = _images(lo0, n0, start[0] + b0, b1 - b0, period[0])
            for m0 in range(m0_a, m0_b + 1):
                g0 = lo0 + m0 * period[0] - start[0]
                r_lo = max(g0, b0)
                r_hi = min(g0 + n0, b1)
                d = (lo0 + r_lo - g0) * h[0] - spos[e, 0]
                _factors(d * d, d * h[0], h[0] * h[0], r_hi - r_lo, a, sweight[e], f0)
                for m1 in range(m1_a, m1_b + 1):
                    g1 = lo1 + m1 * period[1] - start[1]
                    u_lo = max(g1, 0) - g1
                    u_hi = min(g1 + n1, s1) - g1
                    for m2 in range(m2_a, m2_b + 1):
                        g2 = lo2 + m2 * period[2] - start[2]
                        t_lo = max(g2, 0) - g2
                        t_hi = min(g2 + n2, s2) - g2
                        src = f2[t_lo:t_hi]
                        for r in range(r_hi - r_lo):
                            for u in range(u_lo, u_hi):
                                row = img[r_lo + r, g1 + u, g2 + t_lo:g2 + t_hi]
                                c = f0[r] * f1[u]
                                for t in range(t_hi - t_lo):
                                    row[t] += c * src[t]


@njit(cache=True, fastmath=False)
def _raster_general(u, weight, step, ext, periodic, radius, a, img):
    """Exact non-separable kernel for any (non-orthogonal) cell, serial, 3-D ``img``.

    ``u[i]`` is atom ``i`` in continuous grid coordinates, ``step[a]`` the Cartesian
    vector between neighbouring grid points along axis ``a``, ``ext[a]`` the half
    width (grid points) of the box holding the ball ``|r - r_i| <= radius``. Along the
    last axis the points inside the ball are found from a quadratic and the factors
    by the same recurrence as the separable path; periodic axes wrap by ``k mod n``.
    """
    n0, n1, n2 = img.shape
    buf = np.empty(int(2.0 * ext[2]) + 3, img.dtype)
    sx, sy, sz = step[2, 0], step[2, 1], step[2, 2]
    q = sx * sx + sy * sy + sz * sz
    for i in range(u.shape[0]):
        for k0 in range(math.ceil(u[i, 0] - ext[0]), math.floor(u[i, 0] + ext[0]) + 1):
            w0 = k0 % n0 if periodic[0] else k0
            if w0 < 0 or w0 >= n0:
                continue
            for k1 in range(math.ceil(u[i, 1] - ext[1]), math.floor(u[i, 1] + ext[1]) + 1):
                w1 = k1 % n1 if periodic[1] else k1
                if w1 < 0 or w1 >= n1:
                    continue
                # displacement d to grid point (k0, k1, 0); |d + k2 s|^2 <= radius^2 gives the k2 range
                f0, f1, f2 = k0 - u[i, 0], k1 - u[i, 1], -u[i, 2]
                dx = f0 * step[0, 0] + f1 * step[1, 0] + f2 * sx
                dy = f0 * step[0, 1] + f1 * step[1, 1] + f2 * sy
                dz = f0 * step[0, 2] + f1 * step[1, 2] + f2 * sz
                p = dx * sx + dy * sy + dz * sz
                disc = p * p - q * (dx * dx + dy * dy + dz * dz - radius * radius)
                if disc < 0.0:
                    continue
                k_lo = math.ceil((-p - math.sqrt(disc)) / q)
                n = math.floor((-p + math.sqrt(disc)) / q) - k_lo + 1
                if n <= 0:
                    continue
                dx += k_lo * sx
                dy += k_lo * sy
                dz += k_lo * sz
                _factors(dx * dx + dy * dy + dz * dz, dx * sx + dy * sy + dz * sz, q, n, a, weight[i], buf)
                if periodic[2]:      # contiguous runs between wraps of the last axis
                    j = 0
                    while j < n:
                        w2 = (k_lo + j) % n2
                        run = min(n - j, n2 - w2)
                        row = img[w0, w1, w2:w2 + run]
                        src = buf[j:j + run]
                        for t in range(run):
                            row[t] += src[t]
                        j += run
                else:
                    t_lo = max(0, -k_lo)
                    t_hi = min(n, n2 - k_lo)
                    if t_hi > t_lo:
                        row = img[w0, w1, k_lo + t_lo:k_lo + t_hi]
                        src = buf[t_lo:t_hi]
                        for t in range(t_hi - t_lo):
                            row[t] += src[t]


# ----------------------------------------------------------------------------- public API

def rasterize_window(positions, numbers, spacing, start, shape, gamma: float = 0.2, period=None,
                     dtype=np.float32, tol: float = 1e-8, out: np.ndarray | None = None) -> np.ndarray:
    """Gaussian image (CNNAS eq. 1) on one window of a huge orthogonal grid.

    The global grid has pixel spacing ``spacing`` (Angstrom) along each axis and
    grid point ``k`` at ``k * spacing``; the window is the block of global pixel
    indices ``[start_a, start_a + shape_a)``. ``start`` may be negative or run past
    the grid (context padding). With ``period`` (global grid size in pixels per
    axis, ``0`` for a non-periodic axis) pixel ``k`` is pixel ``k mod period``, so
    an atom near one edge also lands across the other edge; otherwise there is no
    wrap. Pass every atom within :func:`stencil_radius` of the window, in any one
    periodic image (do not pass two images of the same atom).

    Parameters
    ----------
    positions : (n_atoms, d) or, for d = 2, (n_atoms, 3) with z ignored; Angstrom.
        May be empty (the window is then zero).
    numbers : (n_atoms,) atomic numbers Z (the Gaussian heights).
    spacing : d floats > 0, Angstrom per pixel.
    start : d ints, global index of the window's first pixel.
    shape : d ints > 0, window size in pixels.
    gamma : Gaussian width, Angstrom; at least ``MIN_GAMMA_PER_PIXEL`` (0.25) times the largest spacing.
    period : None or d ints >= 0.
    dtype : float32 (default, accumulated in float32) or float64.
    tol : stencil truncation, relative to the peak along each axis.
    out : optional C-contiguous array of ``shape`` and ``dtype`` to overwrite, so a
        stream of windows reuses one buffer instead of faulting in fresh pages.

    Returns
    -------
    ndarray of shape ``shape`` and ``dtype`` (``out`` if given): ``V[k]`` at global pixel ``start + k``.
    """
    shape = _int_tuple(shape, "shape", positive=True)
    dim = len(shape)
    if dim not in (2, 3):
        raise ValueError(f"shape must have 2 or 3 entries, got {shape}")
    pos = _positions(positions, dim, allow_empty=True)
    z = atomic_numbers_array(numbers)
    same_length(positions=pos, numbers=z)
    h = finite_array(spacing, "spacing", ndim=1)
    if h.shape != (dim,) or np.any(h <= 0):
        raise ValueError(f"spacing must be {dim} positive lengths (Angstrom), got {h.tolist()}")
    start = np.array(_int_tuple(start, "start", length=dim), np.int64)
    per = np.zeros(dim, np.int64) if period is None else np.array(
        _int_tuple(period, "period", length=dim), np.int64)
    if np.any(per < 0):
        raise ValueError(f"period must be >= 0 pixels per axis (0: no wrap), got {per.tolist()}")
    gamma, tol = _check_gamma_tol(gamma, tol)
    check_resolvable_width(gamma, h)
    dtype = _check_dtype(dtype)
    if out is not None:
        if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError(f"out must be a writeable C-contiguous {np.dtype(dtype).name} array of shape {shape}, "
                             f"got {out.dtype} {out.shape}")
        out[...] = 0
    return _window(pos, z.astype(np.float64), h, start, np.array(shape, np.int64), per, gamma, tol, dtype, out)


def gaussian_image(positions, numbers, cell, grid_shape, gamma: float = 0.2, pbc=True,
                   dtype=np.float32, tol: float = 1e-8) -> np.ndarray:
    """Gaussian image ``V(r) = sum_i Z_i exp(-|r - r_i|^2 / (2 gamma^2))`` of a structure
    on the regular grid of its cell (CNNAS eq. 1, EDNN eq. 2).

    Parameters
    ----------
    positions : (n_atoms, d) Cartesian positions, Angstrom; for d = 2 also (n_atoms, 3)
        with z ignored. Atoms outside the cell are wrapped along periodic axes.
    numbers : (n_atoms,) atomic numbers Z in 1..118.
    cell : (d, d) lattice vectors as rows, or d lengths of an orthogonal cell, Angstrom.
        For d = 2 a (3, 3) cell whose in-plane block is decoupled from z is accepted.
    grid_shape : d ints; grid point k along axis a sits at fractional coordinate k / n_a.
    gamma : Gaussian width, Angstrom (default 0.2); at least 0.25 times the largest pixel spacing
        (the length of cell vector a over n_a), see :func:`check_resolvable_width`.
    pbc : bool or d bools; False: no wrap, atoms outside add only where the stencil hits the grid.
    dtype : float32 or float64 output (and accumulation) type.
    tol : stencil truncation relative to the peak.

    Returns
    -------
    ndarray of shape ``grid_shape``; axis a runs along cell vector a.

    Orthogonal cells go through :func:`rasterize_window` (window = whole grid);
    other cells through an exact serial non-separable kernel.
    """
    shape = _int_tuple(grid_shape, "grid_shape", positive=True)
    dim = len(shape)
    if dim not in (2, 3):
        raise ValueError(f"grid_shape must have 2 or 3 entries, got {shape}")
    pos = _positions(positions, dim)
    z = atomic_numbers_array(numbers)
    same_length(positions=pos, numbers=z)
    cell = _cell(cell, dim)
    gamma, tol = _check_gamma_tol(gamma, tol)
    check_resolvable_width(gamma, np.linalg.norm(cell, axis=1) / np.array(shape))
    dtype = _check_dtype(dtype)
    periodic = np.asarray(pbc, dtype=bool)
    if periodic.shape not in ((), (dim,)):
        raise ValueError(f"pbc must be a bool or {dim} bools, got {pbc!r}")
    periodic = np.broadcast_to(periodic, (dim,)).copy()
    n = np.array(shape, np.int64)
    weight = z.astype(np.float64)

    off_diagonal = cell - np.diag(np.diag(cell))
    if np.all(np.abs(off_diagonal) <= 1e-12 * np.abs(cell).max()) and np.all(np.diag(cell) > 0):
        return _window(pos, weight, np.diag(cell) / n, np.zeros(dim, np.int64), n,
                       np.where(periodic, n, 0), gamma, tol, dtype)

    radius = stencil_radius(gamma, tol)
    u = pos @ np.linalg.inv(cell) * n                 # continuous grid coordinates
    step = cell / n[:, None]                          # Cartesian step between grid points
    ext = radius * np.sqrt(np.diag(np.linalg.inv(step @ step.T)))
    if dim == 2:                                      # embed as a (1, n0, n1) slab, dummy axis first
        u = np.column_stack([np.zeros(len(u)), u])
        step = np.block([[np.zeros((1, 2)), np.ones((1, 1))], [step, np.zeros((2, 1))]])
        ext = np.concatenate([[0.0], ext])
        periodic = np.concatenate([[False], periodic])
    # visit atoms in order of 32^d-pixel blocks so that consecutive stencils share cache lines
    block = np.floor(u / 32.0).astype(np.int64)
    order = np.lexsort(block.T[::-1])
    img = np.zeros((1,) * (3 - dim) + shape, dtype)
    _raster_general(np.ascontiguousarray(u[order]), weight[order], np.ascontiguousarray(step), ext, periodic,
                    radius, 0.5 / gamma ** 2, img)
    return img.reshape(shape)


# ----------------------------------------------------------------------------- helpers

def _window(pos, weight, h, start, shape, period, gamma, tol, dtype, img=None):
    """Separable core shared by :func:`rasterize_window` and :func:`gaussian_image` (``img``: zeroed output)."""
    dim = len(shape)
    if img is None:
        img = np.zeros(tuple(int(s) for s in shape), dtype)
    if len(pos) == 0:
        return img
    radius = stencil_radius(gamma, tol)
    pos = np.ascontiguousarray(pos[:, :dim])
    # Small jobs run on one thread: waking a second thread can cost milliseconds on a busy machine.
    work = len(pos) * np.prod(2.0 * radius / h + 1.0) + img.size
    threads = numba.get_num_threads()
    numba.set_num_threads(threads if work >= _PARALLEL_MIN_WORK else 1)   # thread-local setting
    try:
        spos, sweight, ptr, n_buckets = _bin_atoms(pos, weight, h, start, shape, period, radius, _BUCKET,
                                                   numba.get_num_threads())
        kernel = _raster_2d if dim == 2 else _raster_3d
        kernel(spos, sweight, h, start, shape, period, radius, 0.5 / gamma ** 2, ptr, n_buckets, _BUCKET, img)
    finally:
        numba.set_num_threads(threads)
    return img


def _positions(positions, dim, allow_empty=False):
    arr = finite_array(positions, "positions", ndim=2)
    if arr.shape[1] != dim and not (dim == 2 and arr.shape[1] == 3):
        raise ValueError(f"positions must have shape (n_atoms, {dim})"
                         f"{' or (n_atoms, 3)' if dim == 2 else ''} for a {dim}-D grid, got {arr.shape}")
    if len(arr) == 0 and not allow_empty:
        raise ValueError("positions is empty: the structure has no atoms")
    return np.ascontiguousarray(arr[:, :dim])


def _cell(cell, dim):
    arr = finite_array(cell, "cell")
    if dim == 2 and arr.shape == (3,):
        arr = arr[:2]
    elif dim == 2 and arr.shape == (3, 3):
        if np.any(arr[:2, 2] != 0) or np.any(arr[2, :2] != 0):
            raise ValueError(f"a (3, 3) cell for a 2-D image must not couple the plane to z, got {arr.tolist()}")
        arr = arr[:2, :2]
    return cell_array(arr, dim=dim)


def _int_tuple(values, name, length=None, positive=False):
    arr = np.atleast_1d(np.asarray(values))
    if arr.ndim != 1 or (length is not None and len(arr) != length):
        raise ValueError(f"{name} must be {length or 'a sequence of'} integers, got {values!r}")
    if positive:
        return tuple(positive_int(v, f"{name} entry") for v in arr)
    if not np.all(np.isfinite(arr.astype(float))) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be integers, got {values!r}")
    return tuple(int(v) for v in arr)


def _check_gamma_tol(gamma, tol):
    gamma, tol = float(gamma), float(tol)
    if not np.isfinite(gamma) or gamma <= 0:
        raise ValueError(f"gamma must be a positive finite width in Angstrom, got {gamma}")
    if not 1e-100 <= tol < 1.0:
        raise ValueError(f"tol must be in [1e-100, 1), got {tol}")
    return gamma, tol


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype
