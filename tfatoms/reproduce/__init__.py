"""Reproduction harness: the papers' reference numbers as data, and a writer for
tables (Markdown + CSV, ours next to the paper's with the ratio), figures,
``metrics.json`` and ``provenance.json``."""
from tfatoms.reproduce.references import REFERENCES, Reference, reference
from tfatoms.reproduce.results import ResultsWriter, atomic_write

__all__ = ["REFERENCES", "Reference", "reference", "ResultsWriter", "atomic_write"]
