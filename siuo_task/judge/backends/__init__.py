"""The built-in judge backends, one module each, every one holding its ``BACKEND``; listed by name in
``siuo_task.judge.registry.BUILTIN_BACKENDS`` and imported only when that name is asked for."""
