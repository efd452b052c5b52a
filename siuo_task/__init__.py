"""SIUO scoring and evaluation: prompts, judges, metrics, lmms-eval glue, reports."""

__version__ = "0.1.0"  # the one definition: pyproject.toml reads it (tool.setuptools.dynamic)
