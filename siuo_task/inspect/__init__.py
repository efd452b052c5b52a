"""Inspect AI glue: SIUO as Inspect tasks (``inspect eval siuo_task/siuo_gen``), the same protocol as the
lmms-eval path.

- ``samples``: SIUO items -> Inspect ``Sample``s (the image and the text in one user turn, in the protocol's
  order; the domain in metadata);
- ``judging``: one response judged by our judge (``JudgeConfig``: cache, concurrency, offline, identity) or by
  Inspect's ``grader`` model role, with the protocol's prompts, verdict parsing and re-ask;
- ``scorers``: the scorers, the per-item majority reducer and the metrics Inspect shows (safe / effective /
  S&E rates and MCQA accuracy, overall and per domain, from ``siuo_task.protocol.figures``);
- ``run_files``: at the end of a task, the metrics and rows files our other paths write, beside the ``.eval``
  log, so ``siuo-eval report / review / rescore / agree`` read Inspect runs;
- ``tasks``: the four tasks; ``_registry``: what Inspect's ``inspect_ai`` entry point imports.

Only this package imports ``inspect_ai`` (the optional extra ``siuo[inspect]``); importing this module does
not.
"""
