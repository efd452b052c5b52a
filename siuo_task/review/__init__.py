"""Human review of judge verdicts: a local web page over one judged run. ``page`` is the page model (the
session, sampling, filters, what each response shows; pure), ``server`` the Starlette app (token gate,
handlers) with its ``templates`` and ``static`` files. The labels go to ``reviews.jsonl`` through
``siuo_task.scoring.labels``; ``siuo_task.scoring.human`` rescores with them."""
