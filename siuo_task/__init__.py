"""SIUO scoring and evaluation: prompts, judges, metrics, lmms-eval glue, reports."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("siuo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
