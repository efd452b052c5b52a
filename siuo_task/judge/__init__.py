"""Judges: the ``Judge`` protocol, backends, cache and the call runner."""
