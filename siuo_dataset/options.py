"""The MCQA options: every item has four, lettered in this order (the annotation's keys, the names of the
``correct_option`` ClassLabel, what an answer is parsed to). Bottom layer, no imports: the checks, the
dataset features, the scoring and the task glue all take the letters from here."""

OPTION_LETTERS = ("A", "B", "C", "D")
