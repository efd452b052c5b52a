"""The start of the ``sitecustomize.py`` of the tests' runs of the plain ``lmms-eval`` CLI (not of the test
that lists its tasks: that one runs lmms-eval as installed).

lmms-eval 0.7.3 indexes its ~2,000 task YAMLs at every start, each read with ``yaml.full_load``, PyYAML's
pure-Python parser: ~3 s of CPU per process. Here ``yaml.full_load`` uses PyYAML's libyaml parser
(``CFullLoader``: the same constructor, the same Python objects, ~8x faster; with the stream's ``name``, as
PyYAML's Reader has it) and the constructors lmms-eval registers (``!function``) reach that loader too.
lmms-eval still indexes all its tasks and finds ours among them. Self-contained: it imports nothing from
the repository.
"""

import yaml

if getattr(yaml, "__with_libyaml__", False):

    class _FastFullLoader(yaml.CFullLoader):
        def __init__(self, stream):
            super().__init__(stream)
            self.name = getattr(stream, "name", "<file>")  # PyYAML's Reader sets it; !function reads it

    _register = yaml.add_constructor

    def _add_constructor(tag, constructor, Loader=None):
        _register(tag, constructor, Loader=Loader)
        if Loader is None:  # PyYAML's default: its pure-Python loaders
            _register(tag, constructor, Loader=_FastFullLoader)

    yaml.add_constructor = _add_constructor
    yaml.full_load = lambda stream: yaml.load(stream, Loader=_FastFullLoader)
