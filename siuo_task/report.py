"""Results -> report model -> Markdown and a self-contained HTML page (plots embedded as base64 PNG).

Reading is tolerant of every layout our commands write; each run folder is searched recursively:

    RUN_DIR/                          siuo-eval (lmms-eval) --output_path, or one model folder below it
      MODEL/STAMP_siuo_gen.metrics.json       full generation metrics (``siuo_task.metrics``)
      MODEL/STAMP_siuo_gen.rows.jsonl         per-response judgements (failing examples come from here)
      MODEL/STAMP_siuo_mcqa.metrics.json      MCQA metrics
      MODEL/STAMP_siuo_gen_text.metrics.json, STAMP_siuo_mcqa_text.metrics.json   image-blind ablation
    RUN_DIR/metrics.json + judgements.jsonl   ``siuo-eval judge --out RUN_DIR`` (generation)
    RUN_DIR/metrics.json                      ``siuo-eval score-mcqa --out RUN_DIR`` (MCQA)
    RUN_DIR/validation.json                   ``siuo-eval validate-judge --out RUN_DIR`` (judge validation)
    RUN_DIR/baselines.json                    ``siuo-eval baselines --out RUN_DIR`` (MCQA surface baselines)
    RUN_DIR/PLACEHOLDER_IMAGES.txt            marker left by the demo: the models saw placeholder images
    RUN_DIR/reviews.jsonl                     human labels (``siuo-eval review``): human-checked figures added

Every folder holding results is one run. A run is named after the folder passed to the report, or, when
that folder holds several runs (an lmms-eval --output_path with one folder per model), after each run's
sub-folder (lmms-eval names it after the model; see ``_run_names``). Runs that end up with the same name
are merged, so ``judge`` and ``score-mcqa`` outputs of one model can be passed together with ``--names m,m``.
When a task appears more than once, the newest file is used. Model responses are untrusted: they are escaped
in HTML and in Markdown.
"""
from __future__ import annotations

import base64
import html
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_dataset.errors import SiuoError
from siuo_task.io import write_bytes_atomic
from siuo_task.metrics import paired_difference
from siuo_task.records import RESPONSES_PER_ITEM
from siuo_task.responses import read_judgements, read_reviews
from siuo_task.review.rescore import check_reviews_match, rescore
from siuo_task.review.store import REVIEWS_FILE

GEN_COLUMNS = (("safe", "Safe"), ("effective", "Effective"), ("safe_and_effective", "Safe & Effective"))
METRICS = (*GEN_COLUMNS, ("accuracy", "MCQA accuracy"))
TASKS = ("siuo_gen", "siuo_mcqa", "siuo_gen_text", "siuo_mcqa_text")
PLACEHOLDER_MARKER = "PLACEHOLDER_IMAGES.txt"
# The leaderboard of the paper's project page: safe / effective / safe & effective / MCQA accuracy. All 20 numbers
# are multiples of 1/167: they are on the 167 public items, generation human-evaluated, MCQA scored automatically.
PAPER_ROWS = (
    ("GPT-4V", 53.29, 69.46, 23.35, 38.92),
    ("GPT-4o", 50.90, 95.81, 46.71, 41.32),
    ("Gemini 1.5 Pro", 52.10, 91.62, 45.51, 47.31),
    ("LLaVA-1.6-34B", 40.72, 95.81, 37.13, 52.69),
    ("LLaVA-1.5-7B", 21.56, 87.43, 16.17, 33.53),
)
PAPER_SOURCE = "paper's project page (167 public items, human-evaluated; MCQA automatic)"
BASELINE_SOURCE = "MCQA surface baseline (text only, never sees the image)"
CONTENT_WARNING = ("Content warning: the examples below contain model answers about self-harm, crime and other "
                   "harmful topics.")
PLACEHOLDER_NOTE = ("PLACEHOLDER IMAGES: the real SIUO images were absent, so the models saw generated placeholder "
                    "pictures; these figures show the pipeline working and are NOT SIUO results.")
_TASK_FILE = re.compile(r"(?:^|_)(siuo_(?:gen|mcqa)(?:_text)?)\.metrics\.json$")


@dataclass
class RunResult:
    """One model's SIUO results, as read from its run folder(s)."""

    name: str
    tasks: dict[str, dict] = field(default_factory=dict)  # task -> metrics dict
    gen_rows: list[dict] = field(default_factory=list)  # per-response judgements of siuo_gen
    placeholder_images: bool = False  # the demo's marker file was found (results say so in their data block)
    reviews: list[dict] = field(default_factory=list)  # human labels of the gen_rows (reviews.jsonl)


@dataclass
class Found:
    """Everything found under the run folders given to the report."""

    runs: list[RunResult]
    validation: dict | None = None
    baselines: dict | None = None


# ---- reading -------------------------------------------------------------------------------------------------

def _load_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SiuoError(f"{path} is not a readable results file ({error})") from None
    if not isinstance(value, dict):
        raise SiuoError(f"{path} is not a results file (expected a JSON object)")
    return value


def _result_files(folder: Path) -> dict[Path, dict[str, list[Path]]]:
    """Result files under ``folder`` grouped by the directory holding them: dir -> task -> files."""
    groups: dict[Path, dict[str, list[Path]]] = {}
    for path in sorted(folder.rglob("*.json")):
        match = _TASK_FILE.search(path.name)
        if match:
            groups.setdefault(path.parent, {}).setdefault(match.group(1), []).append(path)
        elif path.name == "metrics.json":
            task = "siuo_gen" if "safe" in _load_json(path) else "siuo_mcqa"
            groups.setdefault(path.parent, {}).setdefault(task, []).append(path)
    return groups


def _newest(paths: list[Path]) -> Path:
    return max(paths, key=lambda p: (p.stat().st_mtime, p.name))


def shows_placeholders(run: RunResult) -> bool:
    """Whether a run's figures come from placeholder images: its results' provenance says so (or the demo's
    marker file was found)."""
    return run.placeholder_images or any((m.get("data") or {}).get("placeholder_images") for m in run.tasks.values())


def _has_marker(directory: Path, root: Path) -> bool:
    """The demo's placeholder marker file in the run's folder or any folder up to ``root``."""
    for folder in (directory, *directory.parents):
        if (folder / PLACEHOLDER_MARKER).is_file():
            return True
        if folder == root:
            return False
    return False


def _reviews(directory: Path, root: Path, gen_rows: list[dict]) -> list[dict]:
    """The labels in the first reviews.jsonl from the run's folder up to ``root``, checked against the run."""
    for folder in (directory, *directory.parents):
        if (folder / REVIEWS_FILE).is_file():
            reviews = read_reviews(folder / REVIEWS_FILE)
            check_reviews_match(gen_rows, reviews, str(folder / REVIEWS_FILE))
            return reviews
        if folder == root:
            break
    return []


def _read_directory(directory: Path, root: Path, tasks: dict[str, list[Path]], name: str) -> RunResult:
    run = RunResult(name)
    for task, paths in tasks.items():
        newest = _newest(paths)
        run.tasks[task] = _load_json(newest)
        if task == "siuo_gen":
            rows = newest.with_name(newest.name.replace(".metrics.json", ".rows.jsonl")) \
                if newest.name != "metrics.json" else newest.with_name("judgements.jsonl")
            if rows.is_file():
                run.gen_rows = read_judgements(rows)
                run.reviews = _reviews(directory, root, run.gen_rows)
    run.placeholder_images = _has_marker(directory, root)
    return run


def read_runs(folder: str | Path, name: str | None = None) -> Found:
    """Every run under ``folder`` (see module docstring) plus a validation.json if one is there."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SiuoError(f"run folder {folder} does not exist")
    validations = sorted(folder.rglob("validation.json"))
    validation = _load_json(_newest(validations)) if validations else None
    baseline_files = sorted(folder.rglob("baselines.json"))
    baselines = _load_json(_newest(baseline_files)) if baseline_files else None
    groups = _result_files(folder)
    if not groups and validation is None and baselines is None:
        raise SiuoError(f"{folder} holds no SIUO results (no *siuo_gen.metrics.json, *siuo_mcqa.metrics.json, "
                        "metrics.json or validation.json): pass a siuo-eval output folder")
    if name is not None and len(groups) > 1:
        raise SiuoError(f"{folder} holds {len(groups)} runs ({', '.join(sorted(d.name for d in groups))}): "
                        "give each its own folder argument to name them")
    names = {directory: name or folder.resolve().name for directory in groups} if len(groups) <= 1 else \
        _run_names(folder, list(groups))
    if len(groups) > 1 and (folder / REVIEWS_FILE).is_file() and folder not in groups:
        raise SiuoError(f"{folder / REVIEWS_FILE} sits above {len(groups)} runs: move it into the folder of "
                        "the run it reviews")
    runs = [_read_directory(directory, folder, tasks, names[directory]) for directory, tasks in groups.items()]
    return Found(runs, validation, baselines)


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


def read_run(folder: str | Path, name: str | None = None) -> RunResult:
    """The single run in ``folder`` (error if it holds none or several)."""
    runs = read_runs(folder, name).runs
    if len(runs) != 1:
        raise SiuoError(f"{folder} holds {len(runs)} runs, expected one")
    return runs[0]


def merge_runs(runs: list[RunResult]) -> list[RunResult]:
    """Runs with the same name merged into one (first seen order); later tasks fill gaps only."""
    merged: dict[str, RunResult] = {}
    for run in runs:
        into = merged.setdefault(run.name, RunResult(run.name))
        for task, metrics in run.tasks.items():
            into.tasks.setdefault(task, metrics)
        into.gen_rows = into.gen_rows or run.gen_rows
        into.reviews = into.reviews or run.reviews
        into.placeholder_images |= run.placeholder_images
    return list(merged.values())


# ---- report model --------------------------------------------------------------------------------------------

def _fmt(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def _ci(ci: list | None) -> str:
    return f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else ""


def _with_ci(metrics: dict | None, key: str) -> str:
    if not metrics or metrics.get(key) is None:
        return "–"
    return f"{metrics[key]:.2f}" + _ci((metrics.get("ci95") or {}).get(key))


def _delta(difference: dict | None) -> str:
    """A paired difference in points with its 95% CI, or "–"."""
    return "–" if difference is None else f"{difference['delta']:+.2f}" + _ci(difference["ci95"])


def _items(run: RunResult) -> str:
    """Items evaluated, and how many could not be scored (unparsable)."""
    parts = []
    gen, mcqa = run.tasks.get("siuo_gen"), run.tasks.get("siuo_mcqa")
    if gen:
        parts.append(f"gen {gen.get('n_items')} ({gen.get('unparsable_items', 0)} unparsable)")
    if mcqa:
        parts.append(f"MCQA {mcqa.get('n_items')} ({mcqa.get('unparsable', 0)} unparsable)")
    return "; ".join(parts)


def overall_rows(runs: list[RunResult]) -> list[list[str]]:
    """Our models: safe / effective / S&E / MCQA accuracy, each with its 95% CI, and the items scored."""
    return [[run.name, *[_with_ci(run.tasks.get("siuo_gen"), k) for k, _ in GEN_COLUMNS],
             _with_ci(run.tasks.get("siuo_mcqa"), "accuracy"), _items(run)] for run in runs]


def _judge_label(run: RunResult) -> str:
    judge = (run.tasks.get("siuo_gen") or {}).get("judge") or {}
    if not judge:
        return "ours (MCQA only)"
    return f"ours ({judge.get('model')} judge{', APPROXIMATE' if judge.get('approximate') else ''})"


def leaderboard_rows(runs: list[RunResult], baselines: dict | None = None) -> list[list[str]]:
    """Ours (point estimates) beside the paper's leaderboard rows and the MCQA surface baselines, each row saying
    where it comes from."""
    ours = [[run.name, _judge_label(run), *[_fmt((run.tasks.get("siuo_gen") or {}).get(k)) for k, _ in GEN_COLUMNS],
             _fmt((run.tasks.get("siuo_mcqa") or {}).get("accuracy"))] for run in runs]
    paper = [[name, PAPER_SOURCE, *[f"{v:.2f}" for v in values]] for name, *values in PAPER_ROWS]
    surface = [[name, BASELINE_SOURCE, "–", "–", "–", _fmt(figures.get("accuracy"))]
               for name, figures in (baselines or {}).items()]
    return ours + paper + surface


def baseline_domain_rows(baselines: dict) -> list[list[str]]:
    """MCQA accuracy of each surface baseline by domain."""
    return [[name, *[_fmt(((figures.get("per_domain") or {}).get(d) or {}).get("accuracy")) for d in DOMAIN_NAMES]]
            for name, figures in baselines.items()]


def paired_rows(runs: list[RunResult]) -> list[list[str]]:
    """Every pair of models: first minus second per metric over the items both scored, with a paired 95% CI."""
    rows = []
    for index, first in enumerate(runs):
        for second in runs[index + 1:]:
            cells = [_delta(paired_difference(first.tasks.get(_task_for(k)) or {}, second.tasks.get(_task_for(k)) or {},
                                              k)) for k, _ in METRICS]
            if any(cell != "–" for cell in cells):
                rows.append([f"{first.name} − {second.name}", *cells])
    return rows


def _task_for(metric: str) -> str:
    return "siuo_mcqa" if metric == "accuracy" else "siuo_gen"


def domain_rows(runs: list[RunResult], metric: str) -> list[list[str]]:
    """One row per domain: its item count, then ``metric`` (with its 95% CI) for each model side by side."""
    task = _task_for(metric)
    per_model = [(run.tasks.get(task) or {}).get("per_domain", {}) for run in runs if task in run.tasks]
    rows = []
    for name in DOMAIN_NAMES:
        counts = {str(d.get(name, {}).get("n_items")) for d in per_model if d.get(name, {}).get("n_items") is not None}
        rows.append([name, "/".join(sorted(counts)) or "–", *[_with_ci(d.get(name), metric) for d in per_model]])
    return rows


def ablation_rows(run: RunResult) -> list[list[str]] | None:
    """Per domain: with-image minus image-blind for each metric, paired over the same items with a 95% CI when the
    metrics hold per-item verdicts (else the plain difference of the rates). None without text-only runs."""
    pairs = [("siuo_gen", "siuo_gen_text", k) for k, _ in GEN_COLUMNS] + [("siuo_mcqa", "siuo_mcqa_text", "accuracy")]
    if not any(text in run.tasks for _, text, _ in pairs):
        return None

    def delta(full_task: str, blind_task: str, key: str, domain: str | None) -> str:
        full, blind = run.tasks.get(full_task) or {}, run.tasks.get(blind_task) or {}
        if full.get("per_item") and blind.get("per_item"):
            return _delta(paired_difference(full, blind, key, domain))
        if domain is not None:
            full, blind = (full.get("per_domain") or {}).get(domain) or {}, (blind.get("per_domain") or {}).get(domain) or {}
        if full.get(key) is None or blind.get(key) is None:
            return "–"
        return f"{full[key] - blind[key]:+.2f}"
    return [[domain or "all", *[delta(a, b, k, domain) for a, b, k in pairs]] for domain in (None, *DOMAIN_NAMES)]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " […]"


def _verdict(value) -> str:
    return {True: "yes", False: "no", None: "unparsable"}.get(value, str(value))


def failing_examples(run: RunResult, questions: dict[int, str], limit: int = 3) -> list[list[str]]:
    """Up to ``limit`` responses judged unsafe, one per item, lowest question_id first."""
    seen, examples = set(), []
    for row in sorted(run.gen_rows, key=lambda r: (r.get("question_id", 0), r.get("response_index", 0))):
        if row.get("safe") is False and row["question_id"] not in seen and len(examples) < limit:
            seen.add(row["question_id"])
            question = questions.get(row["question_id"], "(question text unavailable: pass --data-dir)")
            examples.append([run.name, str(row["question_id"]), question, _clip(str(row.get("response", "")), 600),
                             f"safe: {_verdict(row.get('safe'))}; effective: {_verdict(row.get('effective'))}"])
    return examples


def run_notes(runs: list[RunResult]) -> list[str]:
    """What a reader must know about how a run's figures were obtained (errors, rules, guesses)."""
    notes = []
    for run in runs:
        for task, metrics in run.tasks.items():
            if metrics.get("error"):
                notes.append(f"{run.name} / {task}: {metrics['error']}")
            if metrics.get("judge_errors"):
                notes.append(f"{run.name} / {task}: {metrics['judge_errors']} judge call(s) failed; those responses "
                             "are left out (re-run the same command to complete them)")
            if metrics.get("failed_requests"):
                notes.append(f"{run.name} / {task}: {metrics['failed_requests']} model request(s) failed")
            if metrics.get("empty_responses"):
                notes.append(f"{run.name} / {task}: {metrics['empty_responses']} empty response(s), decided by rule "
                             "(safe, not effective) without a judge call")
            if metrics.get("human_checked"):
                notes.append(f"{run.name} / {task}: human-checked figures (siuo-eval rescore): reviewed "
                             "verdicts replace the judge's")
            if metrics.get("paper_compat_note"):
                notes.append(f"{run.name} / {task}: {metrics['paper_compat_note']}")
    return notes


def judge_rows(runs: list[RunResult]) -> list[list[str]]:
    rows = []
    for run in runs:
        for task in ("siuo_gen", "siuo_gen_text"):
            metrics = run.tasks.get(task) or {}
            block, data = metrics.get("judge"), metrics.get("data") or {}
            if not block:
                continue
            sha = ", ".join(f"{k} {v[:12]}" for k, v in (data.get("sha256") or {}).items())
            rows.append([run.name, task, str(block.get("backend")), str(block.get("model")),
                         str(block.get("prompt_version")), str(block.get("temperature")),
                         "text only" if block.get("text_only") else "with image",
                         "APPROXIMATE" if block.get("approximate") else "",
                         f"{data.get('origin', '?')} {data.get('revision') or ''} {sha}".strip()])
    return rows


def human_rows(runs: list[RunResult]) -> tuple[list[list[str]], list[list[str]]]:
    """Human-checked figures of the reviewed runs, and judge-vs-human (and reviewer-vs-reviewer) agreement."""
    figures, agreement = [], []
    for run in runs:
        checked = rescore(run.gen_rows, run.reviews, run.tasks.get("siuo_gen") or {})
        counts = checked["reviewed"]
        figures.append([run.name, *[_with_ci(checked, k) for k, _ in GEN_COLUMNS],
                        " / ".join(_fmt(checked["judge_figures"][k]) for k, _ in GEN_COLUMNS),
                        " / ".join(f"{counts[a]['responses']} ({counts[a]['disputed']} disputed)"
                                   for a in ("safety", "effectiveness")), ", ".join(counts["reviewers"])])
        for aspect, subsets in checked["agreement"]["judge_vs_human"].items():
            for subset, label in (("all", "judge vs human"), ("blind", "judge vs human, blind labels"),
                                  ("not_blind", "judge vs human, labels given seeing the judge's")):
                if subsets[subset]["n"] or subset == "all":
                    agreement.append([run.name, aspect, label, *_agreement_cells(subsets[subset])])
            for pair in checked["agreement"]["between_reviewers"][aspect]:
                agreement.append([run.name, aspect, " vs ".join(pair["reviewers"]), *_agreement_cells(pair)])
    return figures, agreement


def _agreement_cells(summary: dict) -> list[str]:
    confusion = summary["confusion"]
    return [str(summary["n"]), _fmt(summary["agreement_percent"]), _fmt(summary["kappa"]),
            " / ".join(str(confusion[k]) for k in ("tp", "fn", "fp", "tn"))]


def validation_rows(validation: dict) -> list[list[str]]:
    """One row per variant and figure (safe; safe and effective if asked; per aspect for human labels): the
    reference-hidden figures first (the headline), then the circular with-reference ones, then human labels."""
    model = str((validation.get("judge") or {}).get("model"))
    cases = []
    for variant, label in (("reference_blind", "reference answer hidden"),
                           ("with_reference", "with reference answer (protocol)")):
        figures = validation.get(variant) or {}
        cases += [(label, "safe vs not", figures),
                  (label, "safe & effective vs not", figures.get("safe_and_effective"))]
    cases += [("human labels (siuo-eval review)", aspect, figures)
              for aspect, figures in (validation.get("human_labels") or {}).items()]
    rows = []
    for label, figure, figures in cases:
        if figures:
            confusion = figures.get("confusion") or {}
            counts = " / ".join(str(confusion.get(k, "–")) for k in ("tp", "fn", "fp", "tn"))
            rows.append([model, label, figure, _fmt(figures.get("balanced_accuracy")),
                         _fmt(figures.get("kappa")), counts, str(figures.get("unparsable", "–")),
                         str(figures.get("n"))])
    return rows


PAIRED_HEADER = ["models (first − second)", "Δ Safe [95% CI]", "Δ Effective [95% CI]", "Δ Safe & Effective [95% CI]",
                 "Δ MCQA accuracy [95% CI]"]
OVERALL_HEADER = ["model", "Safe % [95% CI]", "Effective % [95% CI]", "Safe & Effective % [95% CI]",
                  "MCQA accuracy % [95% CI]", "items scored"]
LEADERBOARD_HEADER = ["model", "source", "Safe %", "Effective %", "Safe & Effective %", "MCQA accuracy %"]
ABLATION_HEADER = ["domain", "Δ Safe", "Δ Effective", "Δ Safe & Effective", "Δ MCQA accuracy"]
JUDGE_HEADER = ["run", "task", "backend", "model", "prompt", "temperature", "judge input", "note", "data"]
HUMAN_HEADER = ["model", "Safe % [95% CI]", "Effective % [95% CI]", "Safe & Effective % [95% CI]",
                "judge's own Safe / Effective / S&E %", "reviewed responses: safety / effectiveness",
                "reviewers"]
AGREEMENT_HEADER = ["model", "aspect", "between", "n", "agreement %", "Cohen's κ",
                    "tp / fn / fp / tn (first = rows)"]
VALIDATION_HEADER = ["judge", "variant", "figure", "balanced accuracy", "Cohen's κ", "tp / fn / fp / tn", "unparsable",
                     "n"]
EXAMPLES_HEADER = ["model", "question_id", "question", "response", "verdict"]
UNTRUSTED_EXAMPLE_COLUMNS = (2, 3)  # question (dataset) and response (model)


APPROXIMATE_MARK = "APPROXIMATE: offline judge"
PLACEHOLDER_MARK = "PLACEHOLDER IMAGES: not SIUO results"
VALIDATION_TITLE = ("Judge validation (the 668 MCQA options as labelled responses: correct option = safe). Headline: "
                    "the reference-hidden rows. The with-reference rows are circular: 166 of the 167 correct options "
                    "are the reference answer the judge is shown, so matching the two scores them safe without "
                    "judging anything")
BASELINES_TITLE = ("MCQA surface baselines by domain (accuracy %, text only, never the image): surface cues alone "
                   "can beat models on MCQA, so read MCQA accuracy beside these")


def _marked(title: str, marks: list[str]) -> str:
    """``title`` carrying its warnings, so a copied table or plot keeps them."""
    return f"{title} [{'; '.join(marks)}]" if marks else title


def sections(runs: list[RunResult], validation: dict | None = None, placeholder_images: bool = False,
             questions: dict[int, str] | None = None, baselines: dict | None = None) -> list[tuple[str, str, object]]:
    """The report as (kind, title, payload) blocks shared by both renderers. Every table and plot of model figures
    carries the PLACEHOLDER IMAGES mark, and those holding judged figures the APPROXIMATE mark, when they apply."""
    blocks: list[tuple[str, str, object]] = []
    placeholder = placeholder_images or any(map(shows_placeholders, runs))
    if placeholder:
        blocks.append(("warning", "", PLACEHOLDER_NOTE))
    approximate = any((run.tasks.get(t) or {}).get("judge", {}).get("approximate") for run in runs for t in TASKS)
    base_marks = [PLACEHOLDER_MARK] if placeholder else []
    judged_marks = ([APPROXIMATE_MARK] if approximate else []) + base_marks
    intro = (f"{len(runs)} model(s). Generation rates are percent of items (majority of the {RESPONSES_PER_ITEM} "
             "responses per item); "
             "95% CIs are seeded bootstrap intervals. ")
    if approximate:
        intro += "Some generation figures come from the APPROXIMATE offline judge: a smoke test, not a measurement."
    blocks.append(("text", "SIUO report", intro))
    blocks.append(("table", _marked("Overall", judged_marks), (OVERALL_HEADER, overall_rows(runs))))
    reviewed = [run for run in runs if run.reviews]
    if reviewed:
        figures, agreement = human_rows(reviewed)
        blocks.append(("table", ("Human-checked figures (reviewed verdicts replace the judge's; the rest, "
                                 "and disputed ones, stay the judge's)"), (HUMAN_HEADER, figures)))
        blocks.append(("table", "Agreement on the reviewed responses (human verdict = first rater)",
                       (AGREEMENT_HEADER, agreement)))
    notes = run_notes(runs)
    if notes:
        blocks.append(("notes", "Notes on these figures", notes))
    blocks.append(("table", _marked("Beside the leaderboard of the paper's project page (its rows: the same 167 public "
                                    "items, generation evaluated by humans, MCQA automatic; ours: the judge named; "
                                    "surface baselines: text only)", judged_marks),
                   (LEADERBOARD_HEADER, leaderboard_rows(runs, baselines))))
    if baselines:
        blocks.append(("table", BASELINES_TITLE, (["baseline", *DOMAIN_NAMES], baseline_domain_rows(baselines))))
    paired = paired_rows(runs)
    if paired:
        blocks.append(("table", _marked("Paired differences between models (first minus second, in points, over the "
                                        "items both scored; paired bootstrap 95% CI)", judged_marks),
                       (PAIRED_HEADER, paired)))
    for key, label in METRICS:
        with_task = [run.name for run in runs if _task_for(key) in run.tasks]
        if with_task:
            marks = base_marks if key == "accuracy" else judged_marks
            blocks.append(("table", _marked(f"{label} % [95% CI] by domain", marks),
                           (["domain", "items", *with_task], domain_rows(runs, key))))
            blocks.append(("plot", _marked(f"{label} by domain", marks), (key, label, marks)))
    for run in runs:
        rows = ablation_rows(run)
        if rows:
            blocks.append(("table", _marked(f"Image-blind ablation: {run.name} (with image minus without, in points, "
                                            "paired over the same items, 95% CI: how much seeing the image changes "
                                            "each metric)", judged_marks), (ABLATION_HEADER, rows)))
    judges = judge_rows(runs)
    if judges:
        blocks.append(("table", _marked("Judge and data", judged_marks), (JUDGE_HEADER, judges)))
    if validation:
        marks = ([APPROXIMATE_MARK] if (validation.get("judge") or {}).get("approximate") else []) + base_marks
        blocks.append(("table", _marked(VALIDATION_TITLE, marks), (VALIDATION_HEADER, validation_rows(validation))))
    examples = [row for run in runs for row in failing_examples(run, questions or {})]
    if examples:
        blocks.append(("examples", _marked("Failing examples (responses judged unsafe)", judged_marks),
                       (EXAMPLES_HEADER, examples)))
    return blocks


# ---- rendering -----------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md_cell(text: str, untrusted: bool = False) -> str:
    """One table cell on one line. Untrusted (model or dataset) text has HTML and Markdown syntax escaped,
    so it cannot add tags, links or images; our own text only has tags and pipes neutralised."""
    text = str(text).replace("\r", " ").replace("\n", " ")
    if untrusted:
        return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]], untrusted_columns: tuple[int, ...] = ()) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(_md_cell(c, i in untrusted_columns) for i, c in enumerate(row)) + " |"
                              for row in rows])


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_markdown(blocks) -> str:
    out = []
    for kind, title, payload in blocks:
        if kind == "warning":
            out.append(f"**{_md_cell(payload)}**")
        elif kind == "text":
            out.append(f"# {title}\n\n{payload}")
        elif kind == "table":
            out.append(f"## {_md_cell(title)}\n\n{_md_table(*payload)}")
        elif kind == "notes":
            out.append(f"## {title}\n\n" + "\n".join(f"- {_md_cell(note)}" for note in payload))
        elif kind == "examples":
            table = _md_table(*payload, untrusted_columns=UNTRUSTED_EXAMPLE_COLUMNS)
            out.append(f"## {title}\n\n> {CONTENT_WARNING}\n\n{table}")
        elif kind == "plot":
            out.append(f"![{title}](plot_{payload[0]}.png)")
    return "\n\n".join(out) + "\n"


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;"
         "font-size:13px;text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%}"
         "h2{font-size:1.15em;margin-top:1.6em}details{margin:.5em 0 2em}summary{cursor:pointer;font-weight:bold}"
         ".warning{background:#fff3cd;border:2px solid #d39e00;padding:.8em;font-weight:bold}")


def render_html(blocks, plots: dict[str, bytes]) -> str:
    parts = []
    for kind, title, payload in blocks:
        if kind == "warning":
            parts.append(f'<p class="warning">{html.escape(payload)}</p>')
        elif kind == "text":
            parts.append(f"<h1>{html.escape(title)}</h1><p>{html.escape(payload)}</p>")
        elif kind == "table":
            parts.append(f"<h2>{html.escape(title)}</h2>{_html_table(*payload)}")
        elif kind == "plot":
            data = base64.b64encode(plots[payload[0]]).decode("ascii")
            parts.append(f'<img alt="{html.escape(title)}" '
                         f'src="data:image/png;base64,{data}">')
        elif kind == "notes":
            items = "".join(f"<li>{html.escape(note)}</li>" for note in payload)
            parts.append(f"<h2>{html.escape(title)}</h2><ul>{items}</ul>")
        elif kind == "examples":
            parts.append(f"<h2>{html.escape(title)}</h2><details><summary>{html.escape(CONTENT_WARNING)} "
                         f"Click to show.</summary>{_html_table(*payload)}</details>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SIUO report</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def plot_png(runs: list[RunResult], metric: str, label: str, marks: list[str] = ()) -> bytes:
    """A grouped bar chart of ``metric`` by domain, one bar per model (PNG bytes); missing values are not drawn.
    ``marks`` (APPROXIMATE, PLACEHOLDER IMAGES) are printed under the title, so a copied plot keeps them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task = _task_for(metric)
    runs = [run for run in runs if task in run.tasks]
    figure, axis = plt.subplots(figsize=(10, 4.2), dpi=90)
    width = 0.8 / max(len(runs), 1)
    for index, run in enumerate(runs):
        per_domain = run.tasks[task].get("per_domain", {})
        points = [(i, per_domain.get(name, {}).get(metric)) for i, name in enumerate(DOMAIN_NAMES)]
        points = [(i, value) for i, value in points if value is not None]
        axis.bar([i + index * width for i, _ in points], [value for _, value in points], width, label=run.name)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(DOMAIN_NAMES))])
    axis.set_xticklabels(DOMAIN_NAMES, fontsize=8, rotation=25, ha="right")
    axis.set_ylabel(f"{label} (%)")
    axis.set_ylim(0, 105)
    axis.set_title(f"{label} by domain" + "".join(f"\n{mark}" for mark in marks), **({"color": "#b00000"} if marks else {}))
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def write_report(runs: list[RunResult], out: str | Path, *, validation: dict | None = None,
                 placeholder_images: bool = False, questions: dict[int, str] | None = None,
                 baselines: dict | None = None) -> Path:
    """Write report.md (+ plot PNGs) and a self-contained report.html into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    blocks = sections(runs, validation, placeholder_images, questions, baselines)
    plots = {payload[0]: plot_png(runs, *payload) for kind, _, payload in blocks if kind == "plot"}
    for key, png in plots.items():
        write_bytes_atomic(out / f"plot_{key}.png", png)
    write_bytes_atomic(out / "report.md", render_markdown(blocks).encode("utf-8"))
    write_bytes_atomic(out / "report.html", render_html(blocks, plots).encode("utf-8"))
    return out

