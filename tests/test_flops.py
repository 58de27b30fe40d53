"""FLOP counts of the EDNN tile CNN agree with the hand count of EDNN sec. 2.1."""
from tfatoms.models import dft_tile_cnn
from tfatoms.models.flops import count_flops


def hand_count(tile=128):
    """2 * k^2 * c_in * c_out * output pixels per convolution, 2 * in * out per dense layer."""
    flops, side, c_in = 0, tile, 1
    for c_out, k, s in [(64, 3, 2)] * 2 + [(16, 4, 1)] * 6 + [(64, 3, 2)] + [(32, 3, 1)] * 4:
        side = -(-side // s)
        flops += 2 * k * k * c_in * c_out * side * side
        c_in = c_out
    flops += 2 * side * side * c_in * 1024 + 2 * 1024
    return flops


def test_tile_cnn_flops_and_parameters():
    net = dft_tile_cnn(128)
    assert count_flops(net) == hand_count(128)
    assert abs(count_flops(net) / 1e6 - 200.8) < 1.0  # ENVIRONMENT.md: 200.8 MFLOP per tile
    assert 8.4e6 < net.count_params() < 8.6e6
