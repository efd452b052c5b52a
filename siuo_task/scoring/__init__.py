"""Scoring: verdicts and answers -> metrics (generation, MCQA, baselines, agreement, human labels)."""
