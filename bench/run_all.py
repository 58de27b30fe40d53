"""Run every benchmark under bench/ in turn and print their figures (see BENCHMARKS.md).

    python bench/run_all.py [--quick]
"""
import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = p.parse_args()
    runs = [
        ["bench_gaussian_image.py"] + (["--sizes", "100000", "1000000"] if args.quick else []),
        ["bench_neighbors.py"],
        ["bench_tile_cnn.py"] + (["--batch", "64", "--repeats", "2"] if args.quick else []),
        ["bench_ising.py"] + (["--batches", "100", "--steps", "5"] if args.quick else []),
        ["bench_sheet_batches.py"] + (["--repeats", "2"] if args.quick else []),
        ["bench_cnnas.py"] + (["--grids2d", "64", "--grids3d", "32", "--steps", "5"] if args.quick else []),
        ["bench_local_force.py"] + (["--quick"] if args.quick else []),
    ]
    failed = []
    for script, *extra in runs:
        print(f"\n=== {script} {' '.join(extra)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *extra]).returncode:
            failed.append(script)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
