"""Tiles per network call in SheetPredictor: sized to the work vs a fixed zero-padded batch.

A small sheet used to be padded to ``batch_tiles = 256`` tiles per call; now each call takes
the window's own tiles (at most ``batch_tiles``), through one trace with a ``None`` batch size.
This times, in one run on one machine, the packaged porous-graphene EDNN on a 2 x 2-block sheet
(36 tiles of 128 x 128 pixels):

* ``energy()`` as it is now (36 tiles in one call);
* the same 36 tiles evaluated as one zero-padded 256-tile call (what the old default did);

and prints both and their ratio. The energies agree to float32 round-off.

    python bench/bench_sheet_batches.py [--repeats 5] [--blocks 2 2]
"""
import argparse
import os
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--blocks", type=int, nargs=2, default=(2, 2))
    args = p.parse_args()
    import tfatoms._tensorflow  # noqa: F401
    from tfatoms.data.sheets import PorousSheet
    from tfatoms.inference.sheet import SheetPredictor, window_image, window_tiles
    from tfatoms.pretrained import load_ednn

    model, meta = load_ednn()
    sheet = PorousSheet(tuple(args.blocks), seed=1)
    predictor = SheetPredictor.from_ednn(model, meta["spacing"], meta["gamma"])
    grid = predictor.grid(sheet)
    (window,) = grid.windows(predictor.window_tiles)
    pos, numbers = sheet.window_atoms(*grid.window_bounds(window, predictor.gamma))
    tiles = window_tiles(window_image(pos, numbers, grid, window, predictor.gamma), predictor.focus, predictor.context)
    padded = np.zeros((256, *tiles.shape[1:]), np.float32)
    padded[:len(tiles)] = tiles

    def best(fn):
        fn()                                        # trace / warm up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return min(times), out

    t_now, res = best(lambda: predictor.energy(sheet))
    t_pad, e_pad = best(lambda: float(np.sum(predictor._net(padded).numpy().reshape(-1)[:len(tiles)], dtype=np.float64)))
    cpu = os.popen("grep -o -w -E 'avx512f|avx2' /proc/cpuinfo | sort -u | tr '\\n' ' '").read().strip()
    print(f"sheet {args.blocks[0]} x {args.blocks[1]} blocks: {len(tiles)} tiles, {res.n_atoms} atoms; CPU {cpu}; "
          f"{os.cpu_count()} cores")
    print(f"energy() now (calls of the work's size): {t_now:.3f} s  E = {res.energy:.6f} eV")
    print(f"one zero-padded 256-tile call (old default): {t_pad:.3f} s  E = {e_pad:.6f} eV")
    print(f"ratio padded / now: {t_pad / t_now:.1f}x; |dE|/|E| = {abs(e_pad - res.energy) / abs(res.energy):.1e}")


if __name__ == "__main__":
    main()
