"""Human review of judge verdicts: a local web page (``server``), the ``reviews.jsonl`` labels (``store``),
the judged run being reviewed (``runs``) and human-checked figures with judge-vs-human agreement
(``rescore``)."""
