"""The SIUO Inspect tasks: ``siuo_gen`` and ``siuo_mcqa``, and their image-blind variants
``siuo_gen_text`` and ``siuo_mcqa_text`` (the model never sees the image; the judge still does unless
``judge_text_only``).

Registered through the ``inspect_ai`` entry point (``siuo_task.inspect._registry``), so after installing
``siuo[inspect]``, ``inspect eval siuo_task/siuo_gen --model PROVIDER/MODEL`` works from any folder.
Sampling is the protocol's: generation at ``GENERATION_TEMPERATURE`` (top-p 1, at most 500 tokens, as
``siuo_gen.yaml``) over ``RESPONSES_PER_ITEM`` epochs reduced by the per-item majority; MCQA one answer at
``MCQA_TEMPERATURE`` (at most 64 tokens, as ``siuo_mcqa.yaml``).

Task parameters (``-T name=value``): ``data_dir`` (default $SIUO_DATA_DIR, else the pinned Hub revision); the
judge, as ``siuo-eval``'s flags: ``judge`` (a registered backend: openai, azure, offline, ...),
``judge_model``, ``judge_base_url``, ``judge_api_key_env``, ``judge_text_only``, ``judge_concurrency``,
``judge_timeout``, ``judge_max_retries``, ``judge_cache`` (a path, or ``none``), ``judge_args`` (the backend's
own options, ``k=v,k=v``); MCQA: ``paper_compat``. Without a judge of ours the grader model role judges
(``--model-role grader=...``), else the offline judge (approximate).
"""

from __future__ import annotations

from inspect_ai import Epochs, Task, task
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import generate

from siuo_task.inspect.run_files import register_hook
from siuo_task.inspect.samples import siuo_dataset
from siuo_task.inspect.scorers import siuo_judge, siuo_majority, siuo_mcqa_answer
from siuo_task.judge.base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from siuo_task.judge.cache import default_cache_path
from siuo_task.judge.config import JudgeConfig
from siuo_task.judge.registry import judge_args as parse_judge_args
from siuo_task.judge.runner import DEFAULT_CONCURRENCY
from siuo_task.protocol.model_prompts import GENERATION_TEMPERATURE, MCQA_TEMPERATURE, RESPONSES_PER_ITEM

GENERATION_MAX_TOKENS = 500  # siuo_gen.yaml's max_new_tokens (a test keeps them equal)
GENERATION_TOP_P = 1.0  # siuo_gen.yaml's top_p
MCQA_MAX_TOKENS = 64  # siuo_mcqa.yaml's max_new_tokens
NO_CACHE = ("none", "off", "")


def judge_config(
    judge: str | None = None,
    judge_model: str | None = None,
    judge_base_url: str | None = None,
    judge_api_key_env: str | None = None,
    judge_text_only: bool = False,
    judge_concurrency: int = DEFAULT_CONCURRENCY,
    judge_timeout: float = DEFAULT_TIMEOUT,
    judge_max_retries: int = DEFAULT_MAX_RETRIES,
    judge_cache: str | None = None,
    judge_args: str | dict | None = None,
) -> JudgeConfig:
    """The task parameters of the judge as a ``JudgeConfig`` (checked; the cache defaults to siuo-eval's)."""
    cache = str(default_cache_path()) if judge_cache is None else str(judge_cache)
    config = JudgeConfig(
        kind=judge or None,
        model=judge_model or None,
        base_url=judge_base_url or None,
        api_key_env=judge_api_key_env or None,
        judge_args=backend_args(judge_args),
        text_only=bool(judge_text_only),
        concurrency=int(judge_concurrency),
        timeout=float(judge_timeout),
        max_retries=int(judge_max_retries),
        cache=None if cache.lower() in NO_CACHE else cache,
        quiet=True,
    )
    config.check()
    return config


def backend_args(given: str | dict | None) -> dict[str, str]:
    """The backend's own options (``--judge-arg``): ``-T judge_args=max_tokens=1024,k=v`` or a mapping."""
    if isinstance(given, dict):
        return {str(key): str(value) for key, value in given.items()}
    return parse_judge_args([given] if given else [])


def gen_task(data_dir: str | None, *, image_blind: bool, **judge) -> Task:
    config = judge_config(**judge)
    register_hook()
    return Task(
        dataset=siuo_dataset("generation", data_dir, with_image=not image_blind),
        solver=generate(),
        scorer=siuo_judge(judge=config.to_json(), data_dir=data_dir, image_blind=image_blind),
        epochs=Epochs(RESPONSES_PER_ITEM, siuo_majority()),
        config=GenerateConfig(
            temperature=GENERATION_TEMPERATURE, top_p=GENERATION_TOP_P, max_tokens=GENERATION_MAX_TOKENS
        ),
    )


def mcqa_task(data_dir: str | None, *, image_blind: bool, paper_compat: bool) -> Task:
    register_hook()
    return Task(
        dataset=siuo_dataset("mcqa", data_dir, with_image=not image_blind),
        solver=generate(),
        scorer=siuo_mcqa_answer(paper_compat=bool(paper_compat)),
        config=GenerateConfig(temperature=MCQA_TEMPERATURE, max_tokens=MCQA_MAX_TOKENS),
    )


@task
def siuo_gen(
    data_dir: str | None = None,
    judge: str | None = None,
    judge_model: str | None = None,
    judge_base_url: str | None = None,
    judge_api_key_env: str | None = None,
    judge_text_only: bool = False,
    judge_concurrency: int = DEFAULT_CONCURRENCY,
    judge_timeout: float = DEFAULT_TIMEOUT,
    judge_max_retries: int = DEFAULT_MAX_RETRIES,
    judge_cache: str | None = None,
    judge_args: str | None = None,
) -> Task:
    """SIUO generation: the image and the question, 3 responses at temperature 1.0, each judged for safety
    and effectiveness; safe / effective / safe & effective rates over items (per-item majority)."""
    return gen_task(image_blind=False, **locals())  # every task parameter, as given


@task
def siuo_gen_text(
    data_dir: str | None = None,
    judge: str | None = None,
    judge_model: str | None = None,
    judge_base_url: str | None = None,
    judge_api_key_env: str | None = None,
    judge_text_only: bool = False,
    judge_concurrency: int = DEFAULT_CONCURRENCY,
    judge_timeout: float = DEFAULT_TIMEOUT,
    judge_max_retries: int = DEFAULT_MAX_RETRIES,
    judge_cache: str | None = None,
    judge_args: str | None = None,
) -> Task:
    """``siuo_gen`` without the image (the image-blind ablation)."""
    return gen_task(image_blind=True, **locals())  # every task parameter, as given


@task
def siuo_mcqa(data_dir: str | None = None, paper_compat: bool = False) -> Task:
    """SIUO MCQA: the image and the fixed letter prompt, one answer at temperature 0, accuracy (strict
    parser; ``paper_compat``: the official parser with its seeded random fallback)."""
    return mcqa_task(data_dir, image_blind=False, paper_compat=paper_compat)


@task
def siuo_mcqa_text(data_dir: str | None = None, paper_compat: bool = False) -> Task:
    """``siuo_mcqa`` without the image (the image-blind ablation)."""
    return mcqa_task(data_dir, image_blind=True, paper_compat=paper_compat)
