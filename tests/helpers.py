"""What the tests share (test modules never import each other; fakes live in tests/fakes/):

- paths: the repository and the environment's commands (beside the interpreter running the tests);
- subprocess runs of those commands (``run_tool``, ``siuo_eval``, ``siuo_data``, ``start_tool``), and the
  sitecustomize that spares the plain lmms-eval runs PyYAML's slow parser (``with_fast_task_index``);
- the task YAMLs as lmms-eval reads them;
- small data helpers: a writable copy of the SIUO folder, a decompression-bomb PNG, judge-cache counts.
"""

from __future__ import annotations

import importlib
import shutil
import sqlite3
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import yaml

from siuo_task.judge.cache import TABLE as CACHE_TABLE

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SIUO_EVAL = str(BIN / "siuo-eval")
SIUO_DATA = str(BIN / "siuo-data")
FAST_TASK_INDEX = REPO / "tests" / "fakes" / "fast_task_index.py"  # a sitecustomize start: see its docstring


# ---- subprocess runs ---------------------------------------------------------------------------------------


def tool(program: str) -> str:
    """The path of ``program`` (siuo-eval, siuo-data, lmms-eval, python) in the tests' environment."""
    return str(BIN / program)


def run_tool(
    program: str, *args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """``program`` with ``args`` run to its end (real console script, real exit code), its output captured."""
    return subprocess.run(
        [tool(program), *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def with_fast_task_index(env: dict, folder: Path) -> dict:
    """``env`` whose Python processes start with ``FAST_TASK_INDEX`` (a sitecustomize.py in ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(FAST_TASK_INDEX.read_text())
    return {**env, "PYTHONPATH": str(folder)}


def siuo_eval(*args: str, timeout: float = 300, **options) -> subprocess.CompletedProcess:
    """``siuo-eval ARGS`` in a subprocess (``options``: env, cwd)."""
    return run_tool("siuo-eval", *args, timeout=timeout, **options)


def siuo_data(*args: str, timeout: float = 120, **options) -> subprocess.CompletedProcess:
    """``siuo-data ARGS`` in a subprocess (``options``: env, cwd)."""
    return run_tool("siuo-data", *args, timeout=timeout, **options)


def start_tool(
    program: str, *args: str, env: dict | None = None, output: bool = False, **popen
) -> subprocess.Popen:
    """``program`` started in the background (to be killed, polled or read); its output discarded unless
    ``output`` (then stdout and stderr are text pipes)."""
    streams = (
        {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        if output
        else {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    )
    return subprocess.Popen([tool(program), *map(str, args)], env=env, **{**streams, **popen})


# ---- the task YAMLs as lmms-eval reads them ----------------------------------------------------------------


def _function(loader: yaml.SafeLoader, node: yaml.Node):
    module, _, name = loader.construct_scalar(node).rpartition(".")
    return getattr(importlib.import_module(module), name)


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!function", _function)


def task_config(name: str) -> dict:
    """One task YAML with its includes merged (as lmms-eval does) and every !function imported."""
    from siuo_task.lmms import SOURCE_TASKS_DIR

    config = yaml.load((SOURCE_TASKS_DIR / f"{name}.yaml").read_text(), Loader=_Loader)
    if "include" in config:
        included = Path(config.pop("include"))
        base = (
            task_config(included.stem)
            if included.suffix == ".yaml"
            else yaml.load((SOURCE_TASKS_DIR / included).read_text(), Loader=_Loader)
        )
        config = {**base, **config}
    return config


def aggregations(task: str) -> dict:
    """metric name -> the aggregation function the task's YAML names, in YAML order."""
    return {entry["metric"]: entry["aggregation"] for entry in task_config(task)["metric_list"]}


# ---- data helpers ------------------------------------------------------------------------------------------


def copy_data(siuo_data_dir: Path, shared_siuo: Path, root: Path) -> Path:
    """A writable copy of the SIUO folder (annotations and images copied: an image linked from outside the
    data folder is refused)."""
    (root / "images").mkdir(parents=True)
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        shutil.copyfile(shared_siuo / name, root / name)
    for image in (siuo_data_dir / "images").iterdir():
        shutil.copyfile(image, root / "images" / image.name)
    return root


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (a few dozen bytes: decoding it would not
    be)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def cached_answers(path: Path) -> int:
    """How many answers the judge cache at ``path`` holds (0 while it does not exist yet)."""
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute(f"SELECT COUNT(*) FROM {CACHE_TABLE}").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
