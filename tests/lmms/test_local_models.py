"""Local transformers VLMs through the real lmms-eval CLI: tiny random-weight checkpoints built at test time
(``tests/fakes/tiny_models.py``), ``--tasks siuo_gen,siuo_mcqa --limit 2``, judged by the offline judge.

What the model received is read from the probe (``tests/fakes/model_probe.py``, a sitecustomize on the
PYTHONPATH of the lmms-eval run), not from the task YAMLs: the item's image reached the processor and became
image tokens that the vision tower encoded; generation sampled 3 responses per item (do_sample, temperature
1.0, max_new_tokens 500) and MCQA decoded greedily (max_new_tokens 64); the results, samples logs and SIUO
side files are complete. lmms-eval exits 0 when a task fails, so every run is judged by its files.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

import siuo_dataset
from tests.helpers import BIN, FAST_TASK_INDEX, REPO

if TYPE_CHECKING:  # imported by the checkpoints fixture: torch and transformers take seconds to import
    from tests.fakes import tiny_models

pytestmark = pytest.mark.e2e

LIMIT = 2
TIMEOUT = 900
GEN_TOKENS, MCQA_TOKENS = 500, 64  # the protocol (SIUO paper): what the task YAMLs must make the model get
RESPONSES_PER_ITEM = 3
PROBE_SOURCE = REPO / "tests" / "fakes" / "model_probe.py"


@dataclass
class Run:
    out: Path
    events: list[dict]
    result: subprocess.CompletedProcess
    limit: int = LIMIT  # the run's --limit: its first items

    def of(self, kind: str) -> list[dict]:
        return [event for event in self.events if event["event"] == kind]


@pytest.fixture(scope="session")
def items(siuo_data_dir):
    return siuo_dataset.load_items(siuo_data_dir)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory, siuo_data_dir):
    """family -> its tiny checkpoint, each built once per session on first use."""
    from tests.fakes import tiny_models

    built: dict[str, tiny_models.TinyModel] = {}

    def get(family: str) -> tiny_models.TinyModel:
        if family not in built:
            built[family] = tiny_models.build(family, siuo_data_dir, tmp_path_factory.mktemp(family))
        return built[family]

    return get


def lmms_env(data_dir: Path, site: Path, probe: Path) -> dict:
    env = dict(
        os.environ,
        SIUO_DATA_DIR=str(data_dir),
        PYTHONPATH=str(site),
        SIUO_PROBE_DIR=str(probe),
        OMP_NUM_THREADS="1",  # one thread per process: a tiny model on 2 loaded cores is ~10x faster so
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
    )
    env.pop("SIUO_JUDGE_CONFIG", None)  # plain lmms-eval: the offline judge
    return env


def run_lmms(
    tmp: Path, data_dir: Path, model: str, model_args: str, *extra: str, launcher=(), limit: int = LIMIT
) -> Run:
    """The real ``lmms-eval`` CLI (or ``launcher`` + ``-m lmms_eval``), probed, in its own folders."""
    site, probe, out = tmp / "site", tmp / "probe", tmp / "out"
    for folder in (site, probe):
        folder.mkdir(parents=True)
    (site / "sitecustomize.py").write_text(FAST_TASK_INDEX.read_text() + PROBE_SOURCE.read_text())
    program = [*launcher, "-m", "lmms_eval"] if launcher else [str(BIN / "lmms-eval")]
    command = [
        *program,
        "--model",
        model,
        "--model_args",
        model_args,
        "--tasks",
        "siuo_gen,siuo_mcqa",
        "--limit",
        str(limit),
        "--output_path",
        str(out),
        "--log_samples",
        *extra,
    ]
    result = subprocess.run(
        command, env=lmms_env(data_dir, site, probe), capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp
    )
    events = [json.loads(line) for path in sorted(probe.glob("probe-*.jsonl")) for line in path.open()]
    return Run(out, events, result, limit)


def results_of(run: Run) -> tuple[dict, Path]:
    files = sorted(run.out.rglob("*_results.json"))
    assert files, f"lmms-eval wrote no results (it exits 0 anyway):\n{run.result.stderr[-4000:]}"
    assert len(files) == 1, files
    return json.loads(files[0].read_text()), files[0].parent


def metric(results: dict, task: str, name: str):
    return next(v for k, v in results["results"][task].items() if k.split(",")[0] == name)


def samples(run_dir: Path, task: str) -> list[dict]:
    files = list(run_dir.glob(f"*_samples_{task}.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].open()]


def expected_colour(image_name: str) -> list[int]:
    """A placeholder's background colour (siuo_demo.placeholders): it survives any resizing."""
    return list(hashlib.sha256(image_name.encode()).digest()[:3])


def item_of(text: str, items) -> siuo_dataset.SiuoItem:
    matches = [item for item in items if item.question in text]
    assert matches, f"no SIUO question in the prompt {text[:300]!r}"
    return max(matches, key=lambda item: len(item.question))


def assert_received(run: Run, tiny: tiny_models.TinyModel, items, data_dir: Path, caller: str) -> None:
    """From the probe: prompts, images, image tokens, vision encoder, generation settings; ``caller`` is the
    lmms-eval module (chat or simple class) that must have called generate()."""
    first = items[: run.limit]
    processed = run.of("processor")
    generated = run.of("generate")
    assert {call["caller"] for call in generated} == {caller}
    assert len(generated) == run.limit * (RESPONSES_PER_ITEM + 1), [g["settings"] for g in generated]
    calls: dict[tuple[int, str], list[dict]] = {}
    for call in generated:
        assert len(call["input_ids"]) == 1  # batch size 1
        made = [p for p in processed if p["input_ids"] == call["input_ids"]]
        assert made, "generate() got input_ids no processor call made"
        prompt = made[-1]
        task = "mcqa" if "Options" in prompt["text"][0] and "(D)" in prompt["text"][0] else "gen"
        item = item_of(prompt["text"][0], first)
        calls.setdefault((item.question_id, task), []).append(call)
        # the item's own image reached the processor ...
        assert len(prompt["images"]) == 1, prompt["images"]
        image = prompt["images"][0]
        placeholder = Image.open(data_dir / "images" / item.image_name).convert("RGB")
        if image["lossy"]:  # a JPEG copy (the simple gemma3 class sends data URLs): colours shift a little
            assert image["size"] == list(placeholder.size), image
            assert all(abs(a - b) <= 2 for a, b in zip(image["colour"], expected_colour(item.image_name)))
        else:
            if image["size"] == list(placeholder.size):
                assert image["sha256"] == hashlib.sha256(placeholder.tobytes()).hexdigest()
            assert image["colour"] == expected_colour(item.image_name)
        # ... became image tokens in the model's input, with pixel values for the vision tower
        assert call["image_tokens"] == [tiny.image_tokens_per_image], call["image_tokens"]
        assert call["pixel_values"], "no pixel_values reached generate()"
    assert set(calls) == {(item.question_id, task) for item in first for task in ("gen", "mcqa")}
    for (question_id, task), made in calls.items():
        settings = [call["settings"] for call in made]
        if task == "gen":
            assert len(made) == RESPONSES_PER_ITEM, (question_id, settings)
            for s in settings:
                assert s["do_sample"] is True and s["temperature"] == 1.0, s
                assert s["max_new_tokens"] == GEN_TOKENS and s["num_beams"] in (None, 1), s
        else:
            assert len(made) == 1, (question_id, settings)
            assert settings[0]["do_sample"] is False and settings[0]["max_new_tokens"] == MCQA_TOKENS
        for call in made:
            assert 0 < call["new_tokens"][0] <= settings[0]["max_new_tokens"], call["new_tokens"]
    # the vision tower encoded one image per generate() call, into as many vectors as there are image tokens
    encoded = run.of("image_features")
    assert len(encoded) == len(generated)
    assert {event["vectors"] for event in encoded} == {tiny.image_vectors}


def assert_complete(run: Run, items) -> dict:
    """The results, samples logs and SIUO side files of the two tasks, for the first ``run.limit`` items."""
    results, run_dir = results_of(run)
    first = {item.question_id for item in items[: run.limit]}
    assert results["n-samples"] == {
        t: {"original": 167, "effective": run.limit} for t in ("siuo_gen", "siuo_mcqa")
    }
    for name in ("rate_safe@all", "rate_effective@all", "rate_safe_and_effective@all"):
        assert isinstance(metric(results, "siuo_gen", name), float), name
    assert metric(results, "siuo_gen", "judge_approximate@all") == 1  # the offline judge, labelled so
    assert metric(results, "siuo_gen", "count_failed_requests@all") == 0
    assert metric(results, "siuo_gen", "count_judge_errors@all") == 0
    assert isinstance(metric(results, "siuo_mcqa", "mcqa_accuracy@all"), float)
    assert metric(results, "siuo_mcqa", "count_failed_requests@all") == 0
    gen = samples(run_dir, "siuo_gen")
    assert {s["rate_safe@all"]["question_id"] for s in gen} == first and len(gen) == run.limit
    for sample in gen:
        responses = sample["rate_safe@all"]["responses"]
        assert len(responses) == RESPONSES_PER_ITEM and all(isinstance(r, str) for r in responses)
        assert len(set(responses)) > 1, responses  # sampled: three draws do not coincide
    mcqa = samples(run_dir, "siuo_mcqa")
    assert {s["mcqa_accuracy@all"]["question_id"] for s in mcqa} == first and len(mcqa) == run.limit
    side = run_dir  # the side files sit beside lmms-eval's results, in the model's folder
    gen_metrics = [json.loads(p.read_text()) for p in side.glob("*_siuo_gen.metrics.json")]
    mcqa_metrics = [json.loads(p.read_text()) for p in side.glob("*_siuo_mcqa.metrics.json")]
    assert len(gen_metrics) == 1 and len(mcqa_metrics) == 1, sorted(p.name for p in side.iterdir())
    assert gen_metrics[0]["n_items"] == run.limit and gen_metrics[0]["judge"]["backend"] == "offline"
    assert gen_metrics[0]["complete"] is True and gen_metrics[0]["judge_errors"] == 0
    assert mcqa_metrics[0]["n_items"] == run.limit
    # the side files' stamp is on lmms-eval's clock, near its results stamp (siuo-eval's run id, a stamp plus
    # a random suffix, is taken just before lmms-eval starts; plain lmms-eval's when the task aggregates)
    side_files = [*side.glob("*_siuo_*.metrics.json"), *side.glob("*_siuo_*.rows.jsonl")]
    stamps = {p.name.split("_siuo_")[0] for p in side_files}
    assert len(stamps) == 1, stamps
    started = datetime.strptime(next(run.out.rglob("*_results.json")).name[:15], "%Y%m%d_%H%M%S")
    aggregated = datetime.strptime(stamps.pop()[:15], "%Y%m%d_%H%M%S")
    assert abs(aggregated - started) < timedelta(minutes=30), (started, aggregated)
    rows = [json.loads(line) for p in side.glob("*_siuo_gen.rows.jsonl") for line in p.open()]
    assert len(rows) == run.limit * RESPONSES_PER_ITEM
    assert sorted(r["response"] for r in rows) == sorted(
        r for s in gen for r in s["rate_safe@all"]["responses"]
    )
    return results


# ---- the families ------------------------------------------------------------------------------------------

CPU = "device=cpu,device_map=cpu"


def model_args(tiny: tiny_models.TinyModel) -> str:
    return f"pretrained={tiny.path},{CPU}"


class KnownFailure(Exception):
    """The run failed with the error an xfail names: anything else fails the test, a pass is an XPASS."""


def run_and_check(tmp_path, data_dir, items, tiny, model: str, caller: str, *extra: str, known=None) -> Run:
    run = run_lmms(tmp_path, data_dir, model, model_args(tiny), *extra)
    if known is not None and known in run.result.stderr:
        raise KnownFailure(known)
    assert run.result.returncode == 0, run.result.stderr[-4000:]
    assert_complete(run, items)
    assert_received(run, tiny, items, data_dir, caller)
    return run


def test_llava_next_through_the_llava_hf_chat_class(checkpoints, items, siuo_data_dir, tmp_path):
    """lmms-eval's default class for llava_hf is the chat one (the processor's own chat template); the same
    class loads LLaVA-1.5 (CLIP + Llama: ``TestOneAndTwoProcesses``' single-process run) and LLaVA-NeXT
    (any-resolution tiles, Mistral) checkpoints."""
    tiny = checkpoints("llava_next")
    run_and_check(tmp_path, siuo_data_dir, items, tiny, "llava_hf", "lmms_eval.models.chat.llava_hf")


def test_llava_hf_through_its_simple_class(checkpoints, items, siuo_data_dir, tmp_path):
    """``--force_simple``: lmms-eval's simple llava_hf class (the tokenizer's template, <image> prepended)
    gets SiuoTask's (text, visual) requests, not chat messages."""
    tiny = checkpoints("llava")
    simple = "lmms_eval.models.simple.llava_hf"
    run = run_and_check(tmp_path, siuo_data_dir, items, tiny, "llava_hf", simple, "--force_simple")
    [plain] = run.of("exit")
    assert {"evaluate.evaluator", "nltk"} <= set(plain["imported"])  # what plain lmms-eval imports


def test_gemma3_which_has_only_a_simple_class(checkpoints, items, siuo_data_dir, tmp_path):
    """gemma3 is registered with a simple class only: lmms-eval loads our tasks for a simple model."""
    tiny = checkpoints("gemma3")
    simple = "lmms_eval.models.simple.gemma3"
    run_and_check(tmp_path, siuo_data_dir, items, tiny, "gemma3", simple)


@pytest.mark.xfail(
    strict=True,
    raises=KnownFailure,
    reason="lmms-eval 0.7.3's generic `huggingface` chat model calls the processor with `audios=`, which "
    "transformers 5 rejects (ValueError: You passed keyword argument `audios` which is deprecated); upstream",
)
def test_generic_huggingface_chat_model(checkpoints, items, siuo_data_dir, tmp_path):
    tiny = checkpoints("llava")
    chat = "lmms_eval.models.chat.huggingface"
    known = "You passed keyword argument `audios` which is deprecated"
    run_and_check(tmp_path, siuo_data_dir, items, tiny, "huggingface", chat, known=known)


# ---- data parallel: accelerate launch, two CPU processes ---------------------------------------------------

# `accelerate launch --cpu --num_processes 2` starts ONE process (its simple launcher: multi-CPU needs
# an mpirun hostfile); `--multi_gpu` goes through torch.distributed.run, and without CUDA accelerate makes a
# gloo (MULTI_CPU) group. device_map=cpu keeps llava_hf on the CPU (with an empty device_map it binds
# cuda:<local rank>); lmms-eval then shards the documents by RANK / WORLD_SIZE.
TWO_PROCESSES = [
    str(BIN / "accelerate"),
    "launch",
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
]
ODD_LIMIT = 3  # 2 items on rank 0, 1 on rank 1: lmms-eval pads rank 1 with a repeated request


def item_records(run: Run, task: str) -> dict[int, dict]:
    _, run_dir = results_of(run)
    key = "rate_safe@all" if task == "siuo_gen" else "mcqa_accuracy@all"
    records = [sample[key] for sample in samples(run_dir, task)]
    by_id = {record["question_id"]: {k: v for k, v in record.items() if k != "metric"} for record in records}
    assert len(by_id) == len(records), "an item was logged twice"
    return by_id


def prompts(run: Run) -> dict[tuple, list]:
    """(input_ids, settings) of every generate() call, as a sorted multiset, with the rank that made it."""
    calls = [
        (json.dumps(c["input_ids"]), json.dumps(c["settings"], sort_keys=True)) for c in run.of("generate")
    ]
    return sorted(calls)


@pytest.fixture(scope="module")
def one_and_two_processes(checkpoints, siuo_data_dir, tmp_path_factory):
    tiny = checkpoints("llava")
    one = run_lmms(
        tmp_path_factory.mktemp("one"), siuo_data_dir, "llava_hf", model_args(tiny), limit=ODD_LIMIT
    )
    two = run_lmms(
        tmp_path_factory.mktemp("two"),
        siuo_data_dir,
        "llava_hf",
        model_args(tiny),
        launcher=TWO_PROCESSES,
        limit=ODD_LIMIT,
    )
    for run in (one, two):
        assert run.result.returncode == 0, run.result.stderr[-4000:]
    return one, two


class TestOneAndTwoProcesses:
    """The tests that read the same runs in one and in two processes (``one_and_two_processes``): one xdist
    work unit, so the runs are made once (tests/conftest.py)."""

    def test_llava_through_the_llava_hf_chat_class(
        self, one_and_two_processes, checkpoints, items, siuo_data_dir
    ):
        """The single-process run: LLaVA-1.5 through lmms-eval's default (chat) llava_hf class."""
        one, _ = one_and_two_processes
        assert_complete(one, items)
        assert_received(one, checkpoints("llava"), items, siuo_data_dir, "lmms_eval.models.chat.llava_hf")

    def test_two_processes_share_the_items_and_give_the_same_records(self, one_and_two_processes, items):
        one, two = one_and_two_processes
        by_rank: dict[int, int] = {}
        for call in two.of("generate"):
            by_rank[call["rank"]] = by_rank.get(call["rank"], 0) + 1
        assert sorted(by_rank) == [0, 1], by_rank  # really two processes, each generating
        assert by_rank[0] == 2 * (RESPONSES_PER_ITEM + 1)  # items 1 and 3; rank 1 has item 2 plus padding
        # the same prompts and generation settings reached the model (rank 1's padding repeats one request)
        assert set(prompts(two)) == set(prompts(one))
        first = {item.question_id for item in items[:ODD_LIMIT]}
        mcqa_one, mcqa_two = item_records(one, "siuo_mcqa"), item_records(two, "siuo_mcqa")
        assert set(mcqa_one) == first and mcqa_two == mcqa_one  # greedy: identical answers, parses, verdicts
        gen_one, gen_two = item_records(one, "siuo_gen"), item_records(two, "siuo_gen")
        assert set(gen_one) == first and set(gen_two) == first
        for question_id, record in gen_one.items():
            other = gen_two[question_id]
            # sampled responses differ between runs (each rank has its own random stream); the rest is equal
            assert {k: v for k, v in other.items() if k != "responses"} == {
                k: v for k, v in record.items() if k != "responses"
            }
            assert len(other["responses"]) == RESPONSES_PER_ITEM
        results_one, _ = results_of(one)
        results_two, _ = results_of(two)
        assert results_two["n-samples"] == results_one["n-samples"]
        assert metric(results_two, "siuo_mcqa", "mcqa_accuracy@all") == metric(
            results_one, "siuo_mcqa", "mcqa_accuracy@all"
        )

    def test_two_processes_judge_once_on_rank_0_and_write_the_side_files_once(self, one_and_two_processes):
        _, two = one_and_two_processes
        stderr = two.result.stderr
        judged = [line for line in stderr.splitlines() if "judge: " in line and " judgements (" in line]
        assert len(judged) == 1, judged  # one judge run, not one per process
        assert (
            f"judge: {ODD_LIMIT * RESPONSES_PER_ITEM * 2} judgements" in judged[0]
        )  # 3 items x 3 responses x 2
        folder = next(two.out.rglob("*_results.json")).parent  # the model's folder
        side = sorted(
            p.name.split("_", 2)[2] for p in folder.iterdir() if ".metrics." in p.name or ".rows." in p.name
        )
        assert side == [
            "siuo_gen.metrics.json",
            "siuo_gen.rows.jsonl",
            "siuo_mcqa.metrics.json",
            "siuo_mcqa.rows.jsonl",
        ]
        metrics = json.loads(next(folder.glob("*_siuo_gen.metrics.json")).read_text())
        assert (
            metrics["n_items"] == ODD_LIMIT
            and metrics["summary"]["calls"] == ODD_LIMIT * RESPONSES_PER_ITEM * 2
        )
        assert len(list(two.out.rglob("*_results.json"))) == 1


# ---- siuo-eval on a local model ----------------------------------------------------------------------------


def siuo_eval_run(tmp: Path, data_dir: Path, tiny, *extra: str, launcher=(), site_code: str = "") -> Run:
    """``siuo-eval --model llava_hf ... --tasks siuo --limit 2`` (or ``launcher -m siuo_task.cli``)."""
    site, probe, out = tmp / "site", tmp / "probe", tmp / "out"
    for folder in (site, probe):
        folder.mkdir(parents=True)
    (site / "sitecustomize.py").write_text(site_code + PROBE_SOURCE.read_text())
    program = [*launcher, "-m", "siuo_task.cli"] if launcher else [str(BIN / "siuo-eval")]
    command = [*program, "--model", "llava_hf", "--model_args", model_args(tiny), "--tasks", "siuo"]
    command += ["--limit", str(LIMIT), "--output_path", str(out), *extra]
    result = subprocess.run(
        command, env=lmms_env(data_dir, site, probe), capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp
    )
    events = [json.loads(line) for path in sorted(probe.glob("probe-*.jsonl")) for line in path.open()]
    return Run(out, events, result)


def test_siuo_eval_runs_llava_hf_on_a_local_checkpoint(checkpoints, items, siuo_data_dir, tmp_path):
    tiny = checkpoints("llava")
    run = siuo_eval_run(tmp_path, siuo_data_dir, tiny)
    assert run.result.returncode == 0, run.result.stderr[-4000:]
    assert "siuo-eval: results in" in run.result.stdout
    assert_complete(run, items)
    assert_received(run, tiny, items, siuo_data_dir, "lmms_eval.models.chat.llava_hf")
    _, run_dir = results_of(run)
    for sample in samples(run_dir, "siuo_gen"):  # siuo-eval adds the verdicts of each response
        assert len(sample["siuo"]["verdicts"]) == RESPONSES_PER_ITEM
    [child] = [event for event in run.of("exit") if event["main"] == "siuo_task.lmms.child"]
    assert child["imported"] == []  # HF evaluate deferred, no other task's code (siuo_task.lmms.child)


# A package that is not installed, as Python sees it: importing `decord` fails like a missing module.
WITHOUT_DECORD = """
import sys

class _NoDecord:
    def find_spec(self, name, path=None, target=None):
        if name == "decord" or name.startswith("decord."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoDecord())
"""


def test_a_model_class_that_cannot_be_imported_names_the_package_and_the_extra(
    checkpoints, siuo_data_dir, tmp_path
):
    """lmms-eval would log `Failed to import model` and exit 0 with no results; siuo-eval's child imports the
    class first (as lmms-eval does) and stops before the run: exit 2, one line saying what to do."""
    run = siuo_eval_run(tmp_path, siuo_data_dir, checkpoints("llava"), site_code=WITHOUT_DECORD)
    assert run.result.returncode == 2, run.result.stderr[-3000:]
    errors = [line for line in run.result.stderr.splitlines() if line.startswith("siuo-eval: error:")]
    assert errors == [
        "siuo-eval: error: lmms-eval cannot import its model class for --model llava_hf: no module named "
        "'decord'; it is in the package decord2 (the siuo extra 'local'): pip install decord2"
    ]
    assert not run.of("generate")


def test_siuo_eval_under_accelerate_finishes_the_run_once(checkpoints, items, siuo_data_dir, tmp_path):
    """One siuo-eval per process: their lmms-eval children form the data-parallel run, rank 0 finishes it."""
    run = siuo_eval_run(tmp_path, siuo_data_dir, checkpoints("llava"), launcher=TWO_PROCESSES)
    assert run.result.returncode == 0, run.result.stderr[-4000:]
    assert run.result.stdout.count("siuo-eval: results in") == 1, run.result.stdout
    assert sorted({call["rank"] for call in run.of("generate")}) == [0, 1]
    assert_complete(run, items)
    _, run_dir = results_of(run)
    for sample in samples(run_dir, "siuo_gen"):
        assert len(sample["siuo"]["verdicts"]) == RESPONSES_PER_ITEM
