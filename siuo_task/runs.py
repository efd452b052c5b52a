"""Run folders -> ``RunResult``s: find every run under the folders given to the report and read its results.

Reading is tolerant of every layout our commands write; each run folder is searched recursively:

    RUN_DIR/                          siuo-eval (lmms-eval) --output_path, or one model folder below it;
                                      side files sit beside lmms-eval's results, in the model's folder
      MODEL/STAMP_siuo_gen.metrics.json       full generation metrics (``siuo_task.protocol.figures``)
      MODEL/STAMP_siuo_gen.rows.jsonl         per-response judgements (failing examples come from here)
      MODEL/STAMP_siuo_mcqa.metrics.json      MCQA metrics
      MODEL/STAMP_siuo_gen_text.metrics.json, STAMP_siuo_mcqa_text.metrics.json   image-blind ablation
    RUN_DIR/metrics.json + judgements.jsonl   ``siuo-eval judge --out RUN_DIR`` (generation)
    RUN_DIR/metrics.json                      ``siuo-eval score-mcqa --out RUN_DIR`` (MCQA)
    RUN_DIR/validation.json                   ``siuo-eval validate-judge --out RUN_DIR`` (judge validation)
    RUN_DIR/baselines.json                    ``siuo-eval baselines --out RUN_DIR`` (MCQA surface baselines)
    RUN_DIR/reviews.jsonl                     human labels (``siuo-eval review``): human-checked figures added

Every folder holding results is one run. A siuo-eval run is named after its model (its side files say which);
another run after the folder passed to the report, or, when that folder holds several runs, after each run's
sub-folder (see ``_run_names``). Runs that end up with the same name
are merged, so ``judge`` and ``score-mcqa`` outputs of one model can be passed together with ``--names m,m``.
One report row is one run: when a folder holds several runs of one model (lmms-eval invocations, told apart
by their date stamp), the latest run covering every item is shown (else the latest), whole, never merged with
another run's tasks, and the run's ``notes`` (written into report.md) say which and what was left out.
A run's figures come from placeholder images
when the provenance of its results says so (``shows_placeholders``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_dataset.errors import SiuoError
from siuo_task.files import BASELINES_FILE, JUDGEMENTS_FILE, METRICS_FILE, REVIEWS_FILE, VALIDATION_FILE
from siuo_task.protocol.metric_defs import GENERATION, MCQA, metric_def, metric_names
from siuo_task.readers import read_json_file, read_judgements, read_reviews, within
from siuo_task.scoring.labels import judges_beside, usable_labels

TASKS = ("siuo_gen", "siuo_mcqa", "siuo_gen_text", "siuo_mcqa_text")
_TASK_FILE = re.compile(r"(?:^|_)(siuo_(?:gen|mcqa)(?:_text)?)\.metrics\.json$")


def task_for(metric: str) -> str:
    """The task (its results key in a run) whose metrics hold ``metric``, as its definition says."""
    return metric_def(metric).task_def.lmms_task


@dataclass
class RunResult:
    """One model's SIUO results, as read from its run folder(s)."""

    name: str
    tasks: dict[str, dict] = field(default_factory=dict)  # task -> metrics dict
    gen_rows: list[dict] = field(default_factory=list)  # per-response judgements of siuo_gen
    reviews: list[dict] = field(default_factory=list)  # human labels of the gen_rows (reviews.jsonl)
    notes: list[str] = field(default_factory=list)  # what the reader chose, e.g. the latest of two runs


@dataclass
class Found:
    """Everything found under the run folders given to the report."""

    runs: list[RunResult]
    validation: dict | None = None
    baselines: dict | None = None
    ignored: int = 0  # metrics.json files that are not SIUO results (another tool's), left out


def _load_json(path: Path, root: Path | None = None) -> dict:
    """A results file: a regular file inside the run folder ``root`` (a symlink out of it is refused), capped
    in size, strict JSON (no NaN/Infinity, not too deep, no key twice) holding an object."""
    if root is not None and not within(path, root):
        raise SiuoError(f"{path} points out of the run folder {root}: copy the file in instead of linking it")
    try:
        value = read_json_file(path)
    except SiuoError as error:
        raise SiuoError(f"{path} is not a readable results file ({error})") from None
    if not isinstance(value, dict):
        raise SiuoError(f"{path} is not a results file (expected a JSON object)")
    return value


def siuo_task_of(metrics: dict) -> str | None:
    """The SIUO task a plain ``metrics.json`` holds, recognised by its content, or None for another tool's
    file: our provenance (``siuo_version``, a ``judge`` block) or SIUO's per-domain breakdown, and the
    metrics of one task (every generation metric, or every MCQA metric)."""
    ours = (
        "siuo_version" in metrics
        or isinstance(metrics.get("judge"), dict)
        or (isinstance(metrics.get("per_domain"), dict) and set(metrics["per_domain"]) <= set(DOMAIN_NAMES))
    )
    if not ours:
        return None
    if any(name in metrics for name in metric_names(GENERATION)):
        return "siuo_gen"
    if metric_names(MCQA) and all(name in metrics for name in metric_names(MCQA)):
        return "siuo_mcqa"
    return None


def _result_files(folder: Path) -> tuple[dict[Path, dict[str, list[Path]]], int]:
    """Result files under ``folder`` grouped by the directory holding them: dir -> task -> files; and how
    many ``metrics.json`` files were left out as not SIUO results (another tool's)."""
    groups: dict[Path, dict[str, list[Path]]] = {}
    ignored = 0
    for path in sorted(folder.rglob("*.json")):
        match = _TASK_FILE.search(path.name)
        if match:
            groups.setdefault(path.parent, {}).setdefault(match.group(1), []).append(path)
        elif path.name == METRICS_FILE:
            task = siuo_task_of(_load_json(path, folder))
            if task is None:
                ignored += 1
                continue
            groups.setdefault(path.parent, {}).setdefault(task, []).append(path)
    return groups, ignored


def _newest(paths: list[Path]) -> Path:
    return max(paths, key=lambda p: (p.stat().st_mtime, p.name))


def shows_placeholders(run: RunResult) -> bool:
    """Whether a run's figures come from placeholder images: its results' provenance says so."""
    return any((m.get("data") or {}).get("placeholder_images") for m in run.tasks.values())


def is_example(run: RunResult) -> bool:
    """Whether a run was judged or scored from the packaged example files (``siuo-eval examples``): made-up
    responses, never a model's (its metrics say ``"example": true``)."""
    return any(m.get("example") is True for m in run.tasks.values())


def coverage(run: RunResult) -> str:
    """``5 of 167 items`` when a run scored fewer items than SIUO has (``--limit``), else ""."""
    partial = [
        (m["n_items"], m["data"]["n_items"])
        for m in run.tasks.values()
        if isinstance(m.get("n_items"), int)
        and isinstance((m.get("data") or {}).get("n_items"), int)
        and m["n_items"] < m["data"]["n_items"]
    ]
    return "" if not partial else "{} of {} items".format(*min(partial))


def _reviews(directory: Path, root: Path, gen_rows: list[dict], accept_unfingerprinted: bool) -> list[dict]:
    """The labels in the first reviews.jsonl from the run's folder up to ``root`` that are about this run
    (``usable_labels``: foreign ones left out, loudly)."""
    for folder in (directory, *directory.parents):
        path = folder / REVIEWS_FILE
        if path.exists() or path.is_symlink():
            if not within(path, root):
                raise SiuoError(f"{path} points out of the run folder {root}: copy the file in instead")
            return usable_labels(
                gen_rows, read_reviews(path), str(path), accept_unfingerprinted=accept_unfingerprinted
            )
        if folder == root:
            break
    return []


def _stamp(path: Path) -> str:
    """The run a result file belongs to: lmms-eval's date stamp before ``_siuo_...`` (one invocation), or ""
    for a ``metrics.json`` (one run per folder)."""
    match = _TASK_FILE.search(path.name)
    return path.name[: match.start()] if match else ""


def _partial(metrics: dict) -> str:
    """``5 of 167 items`` when ``metrics`` scored fewer items than SIUO has, else ""."""
    n, total = metrics.get("n_items"), (metrics.get("data") or {}).get("n_items")
    return f"{n} of {total} items" if isinstance(n, int) and isinstance(total, int) and n < total else ""


def _describe(stamp: str, tasks: dict[str, dict]) -> str:
    """A run in a few words: ``2026-01-01T10-00 (siuo_gen 5 of 167 items, siuo_mcqa)``."""
    parts = [f"{task} {_partial(metrics)}".strip() for task, metrics in sorted(tasks.items())]
    return f"{stamp or 'metrics.json'} ({', '.join(parts)})"


def _read_directory(
    directory: Path, root: Path, tasks: dict[str, list[Path]], name: str, accept_unfingerprinted: bool
) -> RunResult:
    """One report row from one run: when ``directory`` holds several runs of one model (lmms-eval
    invocations, told apart by their date stamp), the latest one covering every item is shown, else the
    latest; never tasks of two runs merged into one row. What was chosen is in the run's notes (the report
    writes them into report.md)."""
    by_stamp: dict[str, dict[str, Path]] = {}
    once = all(len(paths) == 1 for paths in tasks.values())  # each task once: one run (a harness may stamp
    for task, paths in tasks.items():  # each task's files apart, as Inspect does)
        for path in paths:
            by_stamp.setdefault("" if once else _stamp(path), {})[task] = path
    loaded = {
        stamp: {task: _load_json(path, root) for task, path in files.items()}
        for stamp, files in by_stamp.items()
    }

    def newest_time(stamp: str) -> float:
        return max(path.stat().st_mtime for path in by_stamp[stamp].values())

    def rank(stamp: str) -> tuple:
        full = not any(_partial(metrics) for metrics in loaded[stamp].values())
        return (full, newest_time(stamp), stamp)

    chosen = max(loaded, key=rank)
    run = RunResult(name)
    run.tasks = dict(loaded[chosen])
    if len(loaded) > 1:
        others = sorted((stamp for stamp in loaded if stamp != chosen), key=rank, reverse=True)
        later = [stamp for stamp in others if newest_time(stamp) > newest_time(chosen)]
        which = "the latest full run" if later else "the latest"
        run.notes.append(
            f"{directory} holds {len(loaded)} runs of this model; shown: {which} of {len(loaded)}, "
            f"{_describe(chosen, loaded[chosen])}; not shown: "
            + "; ".join(
                _describe(stamp, loaded[stamp]) + (" (later, but partial)" if stamp in later else "")
                for stamp in others
            )
            + ". One row is one run: give a run's files a folder of their own to report it too"
        )
    gen = by_stamp[chosen].get("siuo_gen")
    if gen is not None:
        rows = (
            gen.with_name(gen.name.replace(".metrics.json", ".rows.jsonl"))
            if gen.name != METRICS_FILE
            else gen.with_name(JUDGEMENTS_FILE)
        )
        if rows.exists() or rows.is_symlink():
            if not within(rows, root):
                raise SiuoError(f"{rows} points out of the run folder {root}: copy the file in instead")
            run.gen_rows = read_judgements(rows)
            run.reviews = _reviews(directory, root, run.gen_rows, accept_unfingerprinted)
    return run


def read_runs(folder: str | Path, name: str | None = None, *, accept_unfingerprinted: bool = False) -> Found:
    """Every run under ``folder`` (see module docstring) plus a validation.json if one is there; labels
    without a fingerprint are used only with ``accept_unfingerprinted``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SiuoError(f"run folder {folder} does not exist")
    validations = sorted(folder.rglob(VALIDATION_FILE))
    validation = _load_json(_newest(validations), folder) if validations else None
    baseline_files = sorted(folder.rglob(BASELINES_FILE))
    baselines = _load_json(_newest(baseline_files), folder) if baseline_files else None
    groups, ignored = _result_files(folder)
    if not groups and validation is None and baselines is None:
        foreign = f"; {_ignored_text(ignored)}" if ignored else ""
        raise SiuoError(
            f"{folder} holds no SIUO results (no *siuo_gen.metrics.json, *siuo_mcqa.metrics.json, "
            f"metrics.json or validation.json{foreign}): pass a siuo-eval output folder"
        )
    if name is not None and len(groups) > 1:
        raise SiuoError(
            f"{folder} holds {len(groups)} runs ({', '.join(sorted(d.name for d in groups))}): "
            "give each its own folder argument to name them"
        )
    names = (
        {directory: name or folder.resolve().name for directory in groups}
        if len(groups) <= 1
        else _run_names(folder, list(groups))
    )
    if len(groups) > 1 and (folder / REVIEWS_FILE).is_file() and folder not in groups:
        raise SiuoError(
            f"{folder / REVIEWS_FILE} sits above {len(groups)} runs: move it into the folder of "
            "the run it reviews"
        )
    runs = [
        _read_directory(directory, folder, tasks, names[directory], accept_unfingerprinted)
        for directory, tasks in groups.items()
    ]
    if name is None:
        _name_after_models(runs)
    return Found(runs, validation, baselines, ignored)


def _ignored_text(count: int) -> str:
    return f"ignored {count} metrics.json file(s) that are not SIUO results"


def model_of(run: RunResult) -> str:
    """The model a siuo-eval run evaluated (its side files say: ``run.model``), or ""."""
    return next((m["run"]["model"] for m in run.tasks.values() if (m.get("run") or {}).get("model")), "")


def _name_after_models(runs: list[RunResult]) -> None:
    """siuo-eval runs are named after their model (lmms-eval's model folder may be shared or renamed), unless
    two runs evaluated the same model (then their folders tell them apart)."""
    models = [model_of(run) for run in runs]
    for run, model in zip(runs, models):
        if model and models.count(model) == 1:
            run.name = model


def _run_names(folder: Path, directories: list[Path]) -> dict[Path, str]:
    """Short distinct names for several runs under ``folder``: after their common prefix, the first folder
    name if those are distinct (``runs/oracle/oracle`` -> ``oracle``), else the whole relative path."""
    relative = [directory.relative_to(folder).parts or (folder.resolve().name,) for directory in directories]
    common, shortest = 0, min(len(parts) for parts in relative)
    while common + 1 < shortest and len({parts[common] for parts in relative}) == 1:
        common += 1
    firsts = [parts[common] for parts in relative]
    if len(set(firsts)) == len(firsts):
        return dict(zip(directories, firsts))
    return {directory: "/".join(parts) for directory, parts in zip(directories, relative)}


def read_run(
    folder: str | Path, name: str | None = None, *, accept_unfingerprinted: bool = False
) -> RunResult:
    """The single run in ``folder`` (error if it holds none or several)."""
    runs = read_runs(folder, name, accept_unfingerprinted=accept_unfingerprinted).runs
    if len(runs) > 1:
        folders = sorted(_result_files(Path(folder))[0])
        raise SiuoError(
            f"{folder} holds {len(runs)} runs ({', '.join(sorted(run.name for run in runs))}): pass the "
            f"folder of one of them ({', '.join(map(str, folders))})"
        )
    if len(runs) != 1:
        raise SiuoError(f"{folder} holds no run (only a judge validation or baselines): pass a run's folder")
    return runs[0]


def merge_runs(runs: list[RunResult]) -> list[RunResult]:
    """Runs given the same name (``--names m,m``) merged into one (first seen order); later tasks fill gaps
    only, and a task given twice says which one is shown."""
    merged: dict[str, RunResult] = {}
    for run in runs:
        into = merged.setdefault(run.name, RunResult(run.name))
        for task, metrics in run.tasks.items():
            if task in into.tasks:
                into.notes.append(
                    f"{task} is in more than one of the folders named {run.name}: the first is shown"
                )
            into.tasks.setdefault(task, metrics)
        if not into.gen_rows:  # the labels go with the judgements they were checked against, never apart
            into.gen_rows, into.reviews = run.gen_rows, run.reviews
        into.notes += run.notes
    return list(merged.values())


@dataclass(frozen=True)
class JudgedRun:
    """A ``siuo-eval judge`` output or a ``siuo-eval`` (lmms-eval) run with its siuo_gen judgements."""

    folder: Path
    name: str  # the model's name (the run folder's, as in the report)
    judgements: list[dict]  # one row per response, as written by siuo_task.scoring.judging.judgement_rows
    metrics: dict  # the judge's generation metrics
    accept_unfingerprinted: bool = False  # labels without a fingerprint are used too
    own_labels: list[dict] | None = None  # the usable labels of its own reviews.jsonl, read with the run

    @property
    def reviews_path(self) -> Path:
        return self.folder / REVIEWS_FILE

    def reviews(self) -> list[dict]:
        """Every line of the run's reviews.jsonl (any run's: see ``labels``)."""
        return read_reviews(self.reviews_path)

    def labels(self, paths: list[Path] | None = None) -> list[dict]:
        """The labels in ``paths`` (default the run's reviews.jsonl) about this run's responses; foreign ones
        left out with one line on stderr per file."""
        labels = []
        for path in paths or [self.reviews_path]:
            if self.own_labels is not None and Path(path) == self.reviews_path:
                labels += self.own_labels  # read (and any foreign labels said) with the run
                continue
            labels += usable_labels(
                self.judgements,
                read_reviews(path),
                str(path),
                accept_unfingerprinted=self.accept_unfingerprinted,
                legacy_judges=judges_beside(path),
            )
        return labels


def load_judged_run(folder: str | Path, *, accept_unfingerprinted: bool = False) -> JudgedRun:
    """The single judged generation run in ``folder``; one clear error if there is none."""
    folder = Path(folder)
    run = read_run(folder, accept_unfingerprinted=accept_unfingerprinted)
    if "siuo_gen" not in run.tasks or not run.gen_rows:
        raise SiuoError(
            f"{folder} holds no judged generation responses (judgements.jsonl or "
            "*siuo_gen.rows.jsonl): pass a `siuo-eval judge --out` folder or a siuo-eval run "
            "of the siuo task"
        )
    found = list(folder.rglob(REVIEWS_FILE))
    own = run.reviews if found == [folder / REVIEWS_FILE] else None  # run.reviews came from that file
    return JudgedRun(folder, run.name, run.gen_rows, run.tasks["siuo_gen"], accept_unfingerprinted, own)
