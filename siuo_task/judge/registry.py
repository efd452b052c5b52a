"""Judge backends by name (``--judge NAME``, ``JudgeConfig(kind=NAME)``).

The built-in backends are one module each under ``siuo_task.judge.backends``, listed in ``BUILTIN_BACKENDS``
and imported only when asked for (none imports an SDK or builds a client at import time); each module holds
its ``BACKEND`` (a ``JudgeBackend``). Others are added at run time with ``register_backend`` (a plugin, a
test). ``judge_args`` reads the ``--judge-arg KEY=VALUE`` texts, ``backend_options`` checks and converts them
against what the backend accepts.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping

from siuo_task.judge.base import Judge, JudgeArg, JudgeBackend, JudgeConfigError, JudgeSettings
from siuo_task.redact import redact

# name -> the module holding its BACKEND: a new built-in backend is one module and one line here
BUILTIN_BACKENDS = {
    "openai": "siuo_task.judge.backends.openai",
    "azure": "siuo_task.judge.backends.azure",
    "offline": "siuo_task.judge.backends.offline",
}
_REGISTERED: dict[str, JudgeBackend] = {}
NAME = re.compile(r"[a-z][a-z0-9_-]*")
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# a comma that starts the next KEY=VALUE pair (a comma inside a value stays in it)
_NEXT_PAIR = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_.-]*=)")


def register_backend(
    name: str,
    factory: Callable[[JudgeSettings], Judge],
    *,
    options: Mapping[str, JudgeArg] | None = None,
    api_key_env: str | None = None,
    needs_model: bool = True,
    description: str = "",
) -> JudgeBackend:
    """Make ``--judge name`` build judges with ``factory`` (see ``JudgeBackend``); a name already taken by
    another backend is refused."""
    if not NAME.fullmatch(name):
        raise JudgeConfigError(f"judge backend name {name!r}: use lower-case letters, digits, '-' and '_'")
    backend = JudgeBackend(name, factory, dict(options or {}), api_key_env, needs_model, description)
    taken = _REGISTERED.get(name)
    if (taken is not None and taken != backend) or name in BUILTIN_BACKENDS:
        raise JudgeConfigError(f"judge backend {name!r} is already registered")
    _REGISTERED[name] = backend
    return backend


def unregister_backend(name: str) -> None:
    """Forget a backend added with ``register_backend`` (tests)."""
    _REGISTERED.pop(name, None)


def backend_names() -> list[str]:
    """Every backend name, built-in and registered, sorted."""
    return sorted({*BUILTIN_BACKENDS, *_REGISTERED})


def get_backend(name: str) -> JudgeBackend:
    """The backend called ``name`` (a built-in one imported now); one line naming the others if none is."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in BUILTIN_BACKENDS:
        raise JudgeConfigError(f"unknown judge {name!r}: choose one of {', '.join(backend_names())}")
    backend = importlib.import_module(BUILTIN_BACKENDS[name]).BACKEND
    assert backend.name == name, f"{BUILTIN_BACKENDS[name]} holds backend {backend.name!r}, not {name!r}"
    return backend


def judge_args(texts: Iterable[str]) -> dict[str, str]:
    """``--judge-arg`` values (each ``KEY=VALUE``, or several joined by commas as in lmms-eval's
    ``--model_args``) as one dict; a key given twice, or a text that is no ``KEY=VALUE``, is an error."""
    found: dict[str, str] = {}
    for text in texts:
        for pair in _NEXT_PAIR.split(text):
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or not KEY.fullmatch(key):
                raise JudgeConfigError(
                    redact(f"--judge-arg {pair!r}: expected name=value (e.g. --judge-arg max_tokens=256)")
                )
            if key in found:
                raise JudgeConfigError(f"--judge-arg {key} is given twice")
            found[key] = value.strip()
    return found


def backend_options(backend: JudgeBackend, given: Mapping[str, str]) -> dict[str, object]:
    """``given`` (``--judge-arg`` key -> text) checked against the keys ``backend`` accepts and converted;
    one line naming the accepted keys for an unknown one. A credential is never an option: keys stay in the
    environment (``--judge-api-key-env``), so the settings can be written down."""
    accepted = ", ".join(sorted(backend.options)) or "none"
    options = {}
    for key, text in given.items():
        if redact(f"{key}={text}") != f"{key}={text}":
            raise JudgeConfigError(
                f"--judge-arg {key}=...: looks like a credential; judge settings are written to result "
                "files, so put the key in an environment variable and name it with --judge-api-key-env"
            )
        if key not in backend.options:
            raise JudgeConfigError(
                f"unknown --judge-arg {key!r} for --judge {backend.name}: accepted keys are {accepted}"
            )
        try:
            options[key] = backend.options[key].convert(text)
        except ValueError as error:
            reason = str(error).split("\n")[0] or "not accepted"
            meaning = backend.options[key].help
            raise JudgeConfigError(
                f"--judge-arg {key}={text!r} for --judge {backend.name}: {reason} ({meaning})"
            ) from None
    return options
