"""Gaussian images (CNNAS eq. 1) against naive NumPy evaluations with explicit periodic images."""
import itertools
import sys

import numpy as np
import pytest

from tfatoms.representations.gaussian_image import gaussian_image, rasterize_window, stencil_radius

gaussian_image_module = sys.modules["tfatoms.representations.gaussian_image"]

RTOL = 1e-6   # relative to the image maximum


def naive_image(pos, numbers, cell, shape, gamma, pbc=True):
    """Sum of Gaussians over the full grid and every periodic image that can reach it."""
    d = len(shape)
    cell = np.asarray(cell, float)
    cell = np.diag(cell) if cell.ndim == 1 else cell
    frac = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), -1).reshape(-1, d)
    points = frac @ cell
    # cells to reach 8 gamma along each axis (fractional extent of a ball)
    k = np.ceil(8.0 * gamma * np.linalg.norm(np.linalg.inv(cell), axis=0)).astype(int) + 1
    image = np.zeros(len(points))
    periodic = np.broadcast_to(pbc, d)
    for shift in itertools.product(*[range(-k[a], k[a] + 1) if periodic[a] else [0] for a in range(d)]):
        for r, z in zip(np.asarray(pos)[:, :d] + np.array(shift) @ cell, numbers):
            image += z * np.exp(-np.sum((points - r) ** 2, axis=1) / (2 * gamma ** 2))
    return image.reshape(shape)


def naive_window(pos, numbers, spacing, start, shape, gamma):
    """Non-periodic window: every pixel of global index ``start + k`` at ``(start + k) * spacing``."""
    axes = [(s + np.arange(n)) * h for s, n, h in zip(start, shape, spacing)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(shape))
    image = sum(z * np.exp(-np.sum((points - r) ** 2, axis=1) / (2 * gamma ** 2))
                for r, z in zip(np.asarray(pos)[:, :len(shape)], numbers))
    return image.reshape(shape)


def assert_close(image, reference):
    assert image.shape == reference.shape
    err = np.abs(image - reference).max() / np.abs(reference).max()
    assert err < RTOL, err


def random_structure(rng, cell, n_atoms, spread=(-0.2, 1.2)):
    cell = np.asarray(cell, float)
    cell = np.diag(cell) if cell.ndim == 1 else cell
    frac = rng.uniform(*spread, size=(n_atoms, len(cell)))
    return frac @ cell, rng.integers(1, 30, n_atoms)


CASES = [  # cell, grid shape
    ([3.0, 4.1], (30, 41)),
    ([2.7, 2.7], (17, 23)),
    ([[3.0, 0.0], [1.2, 2.8]], (25, 31)),                       # oblique 2-D
    ([[2.46, 0.0], [-1.23, 2.13]], (27, 27)),                    # hexagonal (graphene) 2-D
    ([2.0, 2.5, 3.0], (20, 22, 27)),
    ([[3.0, 0.0, 0.0], [0.5, 2.5, 0.0], [0.3, -0.4, 2.7]], (21, 19, 23)),   # triclinic
]


# float32 (the default) everywhere; float64 on the 2-D kernel and the non-orthogonal kernel
# (the 3-D float64 kernel is the same source compiled for float64: left out to save compile time)
DTYPE_CASES = [(cell, shape, np.float32) for cell, shape in CASES] + \
    [(cell, shape, np.float64) for cell, shape in CASES if len(shape) == 2 or np.ndim(cell) == 2]


@pytest.mark.parametrize("cell,shape,dtype", DTYPE_CASES)
@pytest.mark.parametrize("pbc", [True, False])
def test_matches_naive(cell, shape, pbc, dtype):
    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    pos, z = random_structure(rng, cell, 7)
    image = gaussian_image(pos, z, cell, shape, gamma=0.3, pbc=pbc, dtype=dtype)
    assert image.dtype == dtype
    assert_close(image, naive_image(pos, z, cell, shape, 0.3, pbc))


@pytest.mark.parametrize("cell,shape", [([3.0, 2.6], (30, 26)), ([[2.8, 0.0], [0.9, 2.5]], (28, 25)),
                                        ([2.2, 2.0, 2.4], (22, 20, 24))])
def test_mixed_pbc(cell, shape):
    rng = np.random.default_rng(8)
    pos, z = random_structure(rng, cell, 6)
    pbc = (True, False, True)[:len(shape)]
    assert_close(gaussian_image(pos, z, cell, shape, gamma=0.25, pbc=pbc),
                 naive_image(pos, z, cell, shape, 0.25, pbc))


def test_default_gamma_and_z_weighting():
    cell, shape = [3.1, 2.9], (40, 36)
    pos = np.array([[0.4, 0.5], [1.55, 1.45]])          # the second atom sits on grid point (20, 18)
    carbon = gaussian_image(pos, [6, 6], cell, shape, dtype=np.float64)
    assert_close(carbon, naive_image(pos, [6, 6], cell, shape, 0.2))
    mixed = gaussian_image(pos, [1, 8], cell, shape, dtype=np.float64)
    one = gaussian_image(pos[:1], [1], cell, shape, dtype=np.float64)
    two = gaussian_image(pos[1:], [1], cell, shape, dtype=np.float64)
    np.testing.assert_allclose(mixed, one + 8 * two, rtol=0, atol=1e-12)
    assert mixed[20, 18] == pytest.approx(8.0, rel=1e-9)   # peak height is Z


def test_tiny_cell_many_images():
    """Stencil much wider than the cell: one atom overlaps many of its own images."""
    for cell, shape in [([0.8, 1.1], (7, 9)), ([0.9, 0.7, 1.0], (5, 4, 6)), ([[1.0, 0], [0.6, 0.9]], (8, 6))]:
        pos = np.full((1, len(shape)), 0.13)
        image = gaussian_image(pos, [3], cell, shape, gamma=0.4)
        assert_close(image, naive_image(pos, [3], cell, shape, 0.4))


def test_2d_accepts_3d_positions_and_cell():
    rng = np.random.default_rng(5)
    pos = rng.uniform(0, 3, (6, 3))
    cell3 = np.diag([3.0, 3.2, 20.0])
    image = gaussian_image(pos, np.full(6, 6), cell3, (24, 25))
    np.testing.assert_array_equal(image, gaussian_image(pos[:, :2], np.full(6, 6), [3.0, 3.2], (24, 25)))
    with pytest.raises(ValueError, match="couple"):
        gaussian_image(pos, np.full(6, 6), [[3, 0, 1], [0, 3, 0], [0, 0, 9]], (24, 25))


@pytest.mark.parametrize("cell", [[3.3, 2.8], [[3.0, 0.0], [1.1, 2.6]], [2.1, 2.4, 2.2],
                                  [[2.5, 0, 0], [0.6, 2.2, 0], [0.2, 0.3, 2.4]]])
def test_atoms_outside_the_cell_are_wrapped(cell):
    rng = np.random.default_rng(1)
    c = np.asarray(cell, float)
    c = np.diag(c) if c.ndim == 1 else c
    shape = (19, 23, 17)[:len(c)]
    pos, z = random_structure(rng, c, 5, spread=(0, 1))
    shifted = pos + rng.integers(-3, 4, size=pos.shape) @ c
    assert_close(gaussian_image(shifted, z, cell, shape), gaussian_image(pos, z, cell, shape))


@pytest.fixture
def always_parallel(monkeypatch):
    """Use every numba thread even for small jobs (normally they run on one thread)."""
    monkeypatch.setattr(gaussian_image_module, "_PARALLEL_MIN_WORK", 0)


def test_large_grid_many_bands_against_stencil_reference(always_parallel):
    """Enough atoms and pixels for several bands and buckets of the parallel kernel."""
    rng = np.random.default_rng(2)
    n = (300, 700)
    h = 0.09
    cell = np.array(n) * h
    pos = rng.uniform(-1, 1, (400, 2)) * cell + cell / 2          # also outside the cell
    z = rng.integers(1, 10, 400)
    image = gaussian_image(pos, z, cell, n, dtype=np.float64)
    reference = np.zeros(n)
    radius = stencil_radius(0.2, 1e-8)
    for r, zi in zip(pos, z):                                     # separable, per-axis truncation
        idx, fac = [], []
        for a in range(2):
            k = np.arange(np.ceil((r[a] - radius) / h), np.floor((r[a] + radius) / h) + 1)
            idx.append(k.astype(int) % n[a])
            fac.append(np.exp(-(k * h - r[a]) ** 2 / (2 * 0.2 ** 2)))
        np.add.at(reference, np.ix_(*idx), zi * np.outer(*fac))
    assert_close(image, reference)
    assert_close(gaussian_image(pos, z, cell, n), reference)      # float32 accumulation too


def test_3d_several_bands_in_parallel(always_parallel):
    rng = np.random.default_rng(9)
    cell, shape = [26.0, 0.9, 1.0], (290, 6, 7)         # 3 bands of axis-0 planes, tiny periodic y, z
    pos, z = random_structure(rng, cell, 12)
    assert_close(gaussian_image(pos, z, cell, shape), naive_image(pos, z, cell, shape, 0.2))


# ----------------------------------------------------------------------------- windows

def wrap_take(image, start, shape):
    out = image
    for axis, (s, n) in enumerate(zip(start, shape)):
        out = np.take(out, np.arange(s, s + n), axis=axis, mode="wrap")
    return out


@pytest.mark.parametrize("start,shape", [
    ((5, 7), (10, 12)),           # interior
    ((25, 30), (12, 20)),         # runs past the far edges
    ((-6, -9), (15, 14)),         # negative start
    ((-40, 3), (100, 5)),         # wider than the grid: every pixel more than once
    ((0, 0), (33, 41)),           # the whole grid
])
def test_window_equals_slice_of_full_periodic_image(start, shape, always_parallel):
    rng = np.random.default_rng(3)
    grid, h = np.array([33, 41]), np.array([0.1, 0.095])
    pos, z = random_structure(rng, grid * h, 12, spread=(0, 1))
    full = gaussian_image(pos, z, grid * h, tuple(grid), dtype=np.float64)
    window = rasterize_window(pos, z, h, start, shape, period=grid, dtype=np.float64)
    assert_close(window, wrap_take(full, start, shape))
    # any periodic image of the atoms gives the same window
    moved = pos + rng.integers(-2, 3, size=pos.shape) * grid * h
    assert_close(rasterize_window(moved, z, h, start, shape, period=grid, dtype=np.float64), window)


def test_window_3d_periodic(always_parallel):
    rng = np.random.default_rng(4)
    grid, h = np.array([15, 18, 16]), np.array([0.12, 0.1, 0.11])
    pos, z = random_structure(rng, grid * h, 6, spread=(0, 1))
    full = gaussian_image(pos, z, grid * h, tuple(grid))
    for start, shape in [((-4, 10, 3), (9, 12, 20)), ((13, -2, -5), (6, 5, 30))]:
        window = rasterize_window(pos, z, h, start, shape, period=grid)
        assert_close(window, wrap_take(full, start, shape))


def test_window_without_period_matches_naive():
    rng = np.random.default_rng(6)
    pos = rng.uniform(-1, 4, (10, 2))
    z = rng.integers(1, 9, 10)
    for start, shape in [((-12, -5), (40, 31)), ((10, 3), (7, 9))]:
        window = rasterize_window(pos, z, (0.1, 0.12), start, shape, dtype=np.float64)
        assert_close(window, naive_window(pos, z, (0.1, 0.12), start, shape, 0.2))
    # a window that no atom reaches is zero; an empty atom list is allowed
    assert not rasterize_window(pos, z, (0.1, 0.1), (500, 500), (4, 4)).any()
    assert not rasterize_window(np.zeros((0, 2)), [], (0.1, 0.1), (0, 0), (4, 4)).any()


def naive_periodic_window(pos, numbers, spacing, start, shape, period, gamma):
    """Window of a grid with pixel ``k`` at ``k * spacing``, periodic with ``period`` pixels (0: not)."""
    axes = [(s + np.arange(n)) * h for s, n, h in zip(start, shape, spacing)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(shape))
    lengths = np.array(period) * spacing
    reach = np.abs(points).max(0) + np.abs(pos).max(0) + 8 * gamma
    ranges = [range(-int(reach[a] / lengths[a]) - 1, int(reach[a] / lengths[a]) + 2) if period[a] else [0]
              for a in range(len(shape))]
    image = np.zeros(len(points))
    for shift in itertools.product(*ranges):
        for r, z in zip(pos + np.array(shift) * lengths, numbers):
            image += z * np.exp(-np.sum((points - r) ** 2, axis=1) / (2 * gamma ** 2))
    return image.reshape(shape)


@pytest.mark.parametrize("seed", range(30))
def test_random_windows_match_naive(seed):
    """Random 2-D/3-D windows, spacings, periods (down to 1 pixel, or none per axis), negative
    starts and atoms anywhere; tol=1e-15 so that the comparison is tight."""
    rng = np.random.default_rng(seed)
    d = int(rng.choice([2, 3]))
    spacing = rng.uniform(0.05, 0.3, d)
    period = [int(rng.choice([0, rng.integers(1, 40)])) for _ in range(d)]
    start, shape = rng.integers(-60, 60, d), rng.integers(1, 25 if d == 3 else 60, d)
    pos = rng.uniform(-5, 8, (int(rng.integers(1, 8)), d))
    z = rng.integers(1, 20, len(pos))
    gamma = rng.uniform(0.1, 0.5)
    image = rasterize_window(pos, z, spacing, start, shape, gamma=gamma, period=period, dtype=np.float64, tol=1e-15)
    reference = naive_periodic_window(pos, z, spacing, start, shape, period, gamma)
    np.testing.assert_allclose(image, reference, rtol=1e-9, atol=1e-12 * z.max())


def test_tiled_windows_reassemble_the_image():
    """Windows with context padding, cut back and stitched, give the full image."""
    rng = np.random.default_rng(7)
    grid, h = np.array([64, 48]), np.array([0.09, 0.09])
    pos, z = random_structure(rng, grid * h, 30, spread=(0, 1))
    full = gaussian_image(pos, z, grid * h, tuple(grid))
    pad, tile = 8, 16
    stitched = np.zeros_like(full)
    for i in range(0, 64, tile):
        for j in range(0, 48, tile):
            w = rasterize_window(pos, z, h, (i - pad, j - pad), (tile + 2 * pad, tile + 2 * pad), period=grid)
            stitched[i:i + tile, j:j + tile] = w[pad:-pad, pad:-pad]
    np.testing.assert_allclose(stitched, full, rtol=0, atol=1e-6 * full.max())


def test_stencil_radius():
    assert stencil_radius(0.2, 1e-8) == pytest.approx(0.2 * np.sqrt(2 * np.log(1e8)))
    assert stencil_radius(0.5, np.exp(-2)) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs,match", [
    (dict(positions=[[np.nan, 0.0]]), "NaN or infinite"),
    (dict(positions=[[np.inf, 0.0]]), "NaN or infinite"),
    (dict(numbers=[6, 6]), "mismatched"),
    (dict(numbers=[0]), "unknown element"),
    (dict(numbers=[119]), "unknown element"),
    (dict(numbers=[6.5]), "integers"),
    (dict(positions=np.zeros((0, 2)), numbers=[]), "empty"),
    (dict(grid_shape=(0, 10)), "positive integer"),
    (dict(grid_shape=(-3, 10)), "positive integer"),
    (dict(grid_shape=(10,)), "2 or 3"),
    (dict(gamma=0.0), "gamma"),
    (dict(gamma=-0.1), "gamma"),
    (dict(gamma=np.nan), "gamma"),
    (dict(cell=[3.0, np.nan]), "NaN or infinite"),
    (dict(cell=[[3.0, 0.0], [np.inf, 3.0]]), "NaN or infinite"),
    (dict(cell=[[3.0, 0.0], [6.0, 0.0]]), "singular"),
    (dict(tol=0.0), "tol"),
    (dict(pbc=(True, False, True)), "pbc"),
    (dict(dtype=np.int32), "dtype"),
    (dict(positions=[[0.0, 0.0, 0.0]], grid_shape=(5, 5, 5), cell=[3.0, 3.0]), "3"),
])
def test_gaussian_image_bad_input(kwargs, match):
    args = dict(positions=[[0.5, 0.5]], numbers=[6], cell=[3.0, 3.0], grid_shape=(10, 10))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gaussian_image(**args)


@pytest.mark.parametrize("kwargs,match", [
    (dict(spacing=(0.1, 0.0)), "spacing"),
    (dict(spacing=(0.1,)), "spacing"),
    (dict(start=(0.5, 0)), "start"),
    (dict(shape=(0, 4)), "positive integer"),
    (dict(period=(10, -1)), "period"),
    (dict(positions=[[0.0, np.nan]]), "NaN or infinite"),
    (dict(numbers=[200]), "unknown element"),
])
def test_rasterize_window_bad_input(kwargs, match):
    args = dict(positions=[[0.5, 0.5]], numbers=[6], spacing=(0.1, 0.1), start=(0, 0), shape=(4, 4))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        rasterize_window(**args)


def test_window_into_reused_buffer_equals_fresh_window():
    rng = np.random.default_rng(7)
    pos = rng.uniform(0, 6.0, size=(40, 2))
    z = rng.integers(1, 9, size=40)
    args = (pos, z, [0.1, 0.12], (-5, 3), (32, 24))
    fresh = rasterize_window(*args, period=(60, 50))
    buf = np.full((32, 24), 7.0, np.float32)  # stale content must be overwritten
    out = rasterize_window(*args, period=(60, 50), out=buf)
    assert out is buf
    np.testing.assert_array_equal(buf, fresh)
    with pytest.raises(ValueError, match="out must be"):
        rasterize_window(*args, out=np.zeros((32, 23), np.float32))
    with pytest.raises(ValueError, match="out must be"):
        rasterize_window(*args, out=np.zeros((32, 24), np.float64))


# ----------------------------------------------------------------------------- width against the pixel size

def test_gaussian_narrower_than_the_pixels_is_rejected():
    """gamma far below the pixel spacing gave an all-zero image silently; now a clear error."""
    pos, z = [[0.15, 0.15]], [6]                          # midway between pixel centres 0 and 0.3 A
    with pytest.raises(ValueError, match=r"gamma = 0.01 A is too narrow for the pixel spacing 0.3 A of the grid"):
        gaussian_image(pos, z, [3.0, 3.0], (10, 10), gamma=0.01)
    with pytest.raises(ValueError, match=r"too narrow.*spacing <= 0.04 A"):
        rasterize_window(pos, z, (0.1, 0.3), (0, 0), (4, 4), gamma=0.01)
    with pytest.raises(ValueError, match="too narrow"):                     # oblique cell: its step lengths
        gaussian_image(pos, z, [[3.0, 0.0], [1.5, 2.6]], (10, 10), gamma=0.05)
    # the limit itself is accepted and the atom between pixels still shows (exp(-2) of Z per axis)
    image = gaussian_image(pos, z, [3.0, 3.0], (10, 10), gamma=0.25 * 0.3, dtype=np.float64)
    assert image.max() == pytest.approx(6 * np.exp(-2) ** 2, rel=1e-9)


def test_every_width_and_grid_used_in_the_package_is_accepted():
    from tfatoms.data.dimers import BOX
    from tfatoms.data.sheets import PIXEL_SPACING
    from tfatoms.representations.gaussian_image import MIN_GAMMA_PER_PIXEL, check_resolvable_width

    assert MIN_GAMMA_PER_PIXEL == 0.25
    check_resolvable_width(0.2, PIXEL_SPACING)                   # porous graphene, EDNN paper
    check_resolvable_width(0.4, 4 * np.asarray(PIXEL_SPACING))   # the tiny EDNN test: 4x coarser
    for grid in (16, 32, 64, 128, 256):                          # CNNAS dimers, quick to full budgets
        check_resolvable_width(0.2, [BOX / grid] * 3)


def test_atom_images_reject_a_width_below_the_pixel_size_at_construction():
    from tfatoms.representations.atom_images import AtomImages

    with pytest.raises(ValueError, match="gamma = 0.1 A is too narrow for the pixel spacing 1.25 A of the images"):
        AtomImages(np.zeros((2, 2)), [0, 2], (10.0, 10.0), (8, 8), numbers=1, gamma=0.1, periodic=False)
    with pytest.raises(ValueError, match="gamma must be a positive"):
        AtomImages(np.zeros((2, 2)), [0, 2], (10.0, 10.0), (8, 8), numbers=1, gamma=-1.0)
    src = AtomImages(np.zeros((2, 2)), [0, 2], (10.0, 10.0), (16, 16), numbers=1, gamma=0.2, periodic=False)
    assert src.collate([0])[0].max() == pytest.approx(2.0)
