"""Training: error metrics and a resumable fit with the best checkpoint restored."""
import tfatoms._tensorflow  # noqa: F401  (TensorFlow without its start-up log lines)
from tfatoms.train.fit import fit_resumable
from tfatoms.train.metrics import error_metrics

__all__ = ["fit_resumable", "error_metrics"]
