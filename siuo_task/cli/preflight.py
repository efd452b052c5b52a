"""The pre-flight of ``siuo-eval --tasks ...``: everything that can be checked before lmms-eval starts (which
takes half a minute to import and then fails in the middle of its traceback), each failure one line naming a
fix that works on this path (a ``SiuoError``: exit 2).

- task names: ours, or lmms-eval's (its task YAMLs scanned as text, only for a name that is not ours), a path,
  a wildcard; an unknown one gets "did you mean siuo";
- judge settings: complete (a model for every judge flag given), its key set, its cache readable;
- data: the same checks the tasks make in lmms-eval (``siuo_dataset.load_siuo``: the annotation checksum,
  167 consistent items, every image present and decodable within the pixel limit when anything looks at it);
- a local checkpoint path in ``--model_args pretrained=...``: exists, not empty, holds a ``config.json``;
- the judge endpoint: one cheap request (``GET <base_url>/models``, no tokens), skippable with
  ``--no-judge-check``.

Nothing here imports lmms-eval or the judge's SDK.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_dataset.items import LoadedSiuo, load_siuo
from siuo_task.judge.base import Judge
from siuo_task.judge.config import JudgeConfig
from siuo_task.lmms.results import GROUPS, PRIMARY_METRIC, expected_tasks

OUR_TASKS = sorted({*GROUPS, *PRIMARY_METRIC})
LMMS_EVAL_META_TASKS = ("list", "list_groups", "list_tags", "list_subtasks")
GEN_TASKS = ("siuo_gen", "siuo_gen_text")
ENDPOINT_TIMEOUT = 1.5  # seconds for the judge endpoint to answer GET /models (a cheap, token-free request)
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
_YAML_NAME = re.compile(rb"^(?:task|group|tag):\s*['\"]?([\w.\-]+)", re.M)
IMAGE_FIX = (
    "run the image-blind tasks (--tasks siuo_text), or make placeholders "
    "(siuo-data placeholders --data-dir DIR)"
)


# ---- task names --------------------------------------------------------------------------------------------


def lmms_eval_task_names() -> set[str]:
    """Task, group and tag names of lmms-eval's own task YAMLs, read as text (no import of lmms-eval)."""
    spec = importlib.util.find_spec("lmms_eval")
    if spec is None or spec.origin is None:
        return set()
    names: set[str] = set()
    for path in (Path(spec.origin).parent / "tasks").rglob("*.yaml"):
        try:
            names.update(match.decode() for match in _YAML_NAME.findall(path.read_bytes()))
        except OSError:
            continue
    return names


def check_tasks(tasks: str) -> list[str]:
    """The requested task names, each ours, lmms-eval's, a path or a pattern; else one line with the nearest
    known name ("did you mean siuo")."""
    names = [name.strip() for name in tasks.split(",")]
    if any(not name for name in names):
        raise SiuoError(f"--tasks {tasks!r} has an empty task name: e.g. --tasks siuo")
    unknown = [
        n for n in names if n not in OUR_TASKS and not any(c in n for c in "*?[") and not Path(n).exists()
    ]
    if unknown:
        known = lmms_eval_task_names()
        unknown = [name for name in unknown if name not in known]
    if unknown:
        name = unknown[0]
        near = difflib.get_close_matches(name, OUR_TASKS, n=1, cutoff=0.5) or difflib.get_close_matches(
            name, sorted(known), n=1, cutoff=0.75
        )
        hint = f"did you mean --tasks {near[0]}? " if near else ""
        raise SiuoError(
            f"unknown task {name!r}: {hint}SIUO's tasks are {', '.join(OUR_TASKS)} "
            "(lmms-eval's own: lmms-eval --tasks list)"
        )
    return expected_tasks(tasks)


# ---- the judge --------------------------------------------------------------------------------------------


def check_judge_key(judge: Judge) -> None:
    """An LLM judge's key variable is set (a loopback judge needs none)."""
    variable = getattr(judge, "api_key_env", None)
    if variable and not os.environ.get(variable) and not getattr(judge, "keyless", False):
        raise SiuoError(
            f"environment variable {variable} is not set: export your judge API key there, or name another "
            "variable with --judge-api-key-env"
        )


def check_cache(config: JudgeConfig) -> None:
    """The judge cache opens and reads as a judge cache (a damaged or foreign file says so, and how to move it
    aside)."""
    if not config.cache:
        return
    cache = config.open_cache()
    try:
        cache.get_many(["siuo-eval pre-flight"])
    except sqlite3.Error as error:
        raise SiuoError(cache_problem(config.cache, error)) from None
    finally:
        cache.close()


def cache_problem(path: str | Path, error: BaseException) -> str:
    """One line for a judge cache SQLite cannot read as ours."""
    return (
        f"the judge cache {path} is damaged or not a siuo judge cache ({type(error).__name__}: {error}): "
        f"move it aside (mv {path} {path}.bad) and re-run, or pass another --cache (or --no-cache)"
    )


def judge_endpoint(judge: Judge) -> str | None:
    """The base URL an LLM judge sends its requests to, or None for a judge without one (offline)."""
    if not hasattr(judge, "api_key_env"):
        return None
    return getattr(judge, "base_url", None) or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_URL


def check_judge_endpoint(config: JudgeConfig, judge: Judge, timeout: float = ENDPOINT_TIMEOUT) -> None:
    """One cheap request (``GET <base_url>/models``): any HTTP answer means the endpoint is up; a refused or
    unanswered connection is one line. A 401 from an ``openai`` judge names its key variable."""
    url = judge_endpoint(judge)
    if url is None:
        return
    request = urllib.request.Request(url.rstrip("/") + "/models", method="GET")
    key = os.environ.get(judge.api_key_env or "")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    skip = "or skip this check with --no-judge-check"
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        if error.code == 401 and config.resolved_kind == "openai":
            raise SiuoError(
                f"the judge endpoint {url} refused the key (401): set the right key in ${judge.api_key_env} "
                f"(or name another variable with --judge-api-key-env), {skip}"
            ) from None
        return  # it answers: what it thinks of GET /models is not our question
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise SiuoError(
            f"the judge endpoint {url} does not answer ({type(reason).__name__}: {reason}) within "
            f"{timeout:g} s: start it or fix --judge-base-url, {skip}"
        ) from None


# ---- data and model ---------------------------------------------------------------------------------------


def check_data(
    tasks: list[str], config_text_only: bool, *, data_dir: str | None, verify_checksums: bool
) -> LoadedSiuo | None:
    """SIUO as the tasks will load it, or None when no SIUO task runs. Images are required, and decoded,
    when the model sees them (not the ``_text`` tasks) or the judge does."""
    ours = [task for task in tasks if task in PRIMARY_METRIC]
    if not ours:
        return None
    model_sees = any(not task.endswith("_text") for task in ours)
    judge_sees = any(task in GEN_TASKS for task in ours) and not config_text_only
    need_images = model_sees or judge_sees
    return load_siuo(
        data_dir or None,
        allow_missing_images=not need_images,
        verify_checksums=verify_checksums,
        decode_images=need_images,
        missing_fix=IMAGE_FIX if model_sees else "judge text-only (--text-only)",
    )


def model_args_values(model_args: str) -> dict[str, str]:
    """``k=v,k=v`` as lmms-eval splits it."""
    pairs = (part.split("=", 1) for part in model_args.split(",") if "=" in part)
    return {key.strip(): value.strip() for key, value in pairs}


def looks_like_path(value: str) -> bool:
    return value.startswith(("/", "./", "../", "~")) or Path(value).expanduser().exists()


def check_checkpoint(model_args: str) -> None:
    """A local checkpoint in ``pretrained=`` exists, is not empty and holds a ``config.json`` (a Hub id such
    as ``Qwen/Qwen2-VL-7B-Instruct`` is left to lmms-eval)."""
    value = model_args_values(model_args or "").get("pretrained")
    if not value or not looks_like_path(value):
        return
    path = Path(value).expanduser()
    fix = "point pretrained= at a checkpoint folder (with config.json and the weights) or a Hub id (ORG/NAME)"
    if not path.exists():
        raise SiuoError(f"--model_args pretrained={value}: no such file or folder; {fix}")
    if path.is_dir():
        if not any(path.iterdir()):
            raise SiuoError(f"--model_args pretrained={value} is an empty folder; {fix}")
        if not (path / "config.json").is_file():
            raise SiuoError(f"--model_args pretrained={value} has no config.json (not a checkpoint); {fix}")
