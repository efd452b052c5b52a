"""lmms-eval glue: ``task`` (documents), ``aggregation`` (judging, metrics, side files), ``wrapper`` (siuo-eval).

Importing this package does not import lmms-eval (only ``task`` and ``aggregation`` do).
"""
