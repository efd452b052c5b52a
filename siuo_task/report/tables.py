"""Run results -> the report as blocks that both renderers share: ``sections`` gives ``Block(kind, title,
payload)``s (kind: warning, text, table, notes, plot, examples).

Each section of the report is one ``*_section`` function: it returns its blocks (none when the section does
not apply), each table's header written next to the ``*_rows`` function that fills its cells. Every table
and plot of model figures carries the PLACEHOLDER IMAGES mark, and those holding judged figures the
APPROXIMATE mark, when they apply (read from the results' provenance; see ``Marks``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_task.protocol.figures import paired_difference
from siuo_task.protocol.metric_defs import (
    GENERATION,
    MCQA,
    TASK_DEFS,
    Figure,
    MetricDef,
    metric_defs,
    metric_names,
)
from siuo_task.protocol.model_prompts import RESPONSES_PER_ITEM
from siuo_task.records import judge_identity, same_judge_key
from siuo_task.runs import TASKS, RunResult, coverage, shows_placeholders
from siuo_task.scoring.human import calibration_block, rescore

# The report's metric columns are the metric definitions (``siuo_task.protocol.metric_defs``), in their order:
# a metric added there gets its column in the overall, leaderboard, paired and ablation tables, and its own
# domain table and plot. A row that lacks a metric shows "–" there.

# The leaderboard of the paper's project page: metric -> figure. All 20 numbers are multiples of 1/167: the
# 167 public items, generation human-evaluated, MCQA scored automatically.
_PAPER_METRICS = ("safe", "effective", "safe_and_effective", "accuracy")
PAPER_ROWS = tuple(
    (name, dict(zip(_PAPER_METRICS, values)))
    for name, *values in (
        ("GPT-4V", 53.29, 69.46, 23.35, 38.92),
        ("GPT-4o", 50.90, 95.81, 46.71, 41.32),
        ("Gemini 1.5 Pro", 52.10, 91.62, 45.51, 47.31),
        ("LLaVA-1.6-34B", 40.72, 95.81, 37.13, 52.69),
        ("LLaVA-1.5-7B", 21.56, 87.43, 16.17, 33.53),
    )
)
PAPER_SOURCE = (
    "the paper's leaderboard (its project page: the same 167 public items; generation evaluated by humans, "
    "not by a judge; MCQA scored automatically)"
)
# The project page's own MCQA baseline row (MCQA accuracy only), shown beside our random baseline.
PAPER_RANDOM_ROW = ("Random Choice", {"accuracy": 24.95})
PLACEHOLDER_NOTE = (
    "PLACEHOLDER IMAGES: the real SIUO images were absent, so the models saw generated placeholder "
    "pictures; these figures show the pipeline working and are NOT SIUO results."
)
ALL_PAIRS_UP_TO = 10  # runs sharing items and judge: all their pairs up to this many, neighbours beyond
PLOTTED_UP_TO = 12  # models in one chart; beyond, a bar chart is unreadable and the tables hold the figures
OVERALL_PLOT = "overall"  # the plot key of ours beside the paper's rows (``plots.OVERALL``)
APPROXIMATE_NOTE = (
    "APPROXIMATE: figures marked as judged by the offline judge are a smoke test of the pipeline, not a "
    "measurement."
)
APPROXIMATE_MARK = "APPROXIMATE: offline judge"
PLACEHOLDER_MARK = "PLACEHOLDER IMAGES: not SIUO results"


class Block(NamedTuple):
    """One piece of the report; ``render`` has one function per ``kind`` and format."""

    kind: str  # "warning" | "text" | "table" | "notes" | "plot" | "examples"
    title: str
    payload: object  # text; (header, rows); notes; (metric, label, marks) for a plot


@dataclass(frozen=True)
class Marks:
    """The warnings the report's titles carry: placeholder images (any run, or told), an approximate judge."""

    placeholder: bool
    approximate: bool

    @classmethod
    def of(cls, runs: list[RunResult], placeholder_images: bool = False) -> Marks:
        return cls(
            placeholder=placeholder_images or any(map(shows_placeholders, runs)),
            approximate=any(
                (run.tasks.get(t) or {}).get("judge", {}).get("approximate") for run in runs for t in TASKS
            ),
        )

    @property
    def base(self) -> list[str]:
        """The marks of every table and plot of model figures."""
        return [PLACEHOLDER_MARK] if self.placeholder else []

    @property
    def judged(self) -> list[str]:
        """The marks of those holding judged figures."""
        return ([APPROXIMATE_MARK] if self.approximate else []) + self.base


def sections(
    runs: list[RunResult],
    validation: dict | None = None,
    placeholder_images: bool = False,
    questions: dict[int, str] | None = None,
    baselines: dict | None = None,
    all_pairs: bool = False,
) -> list[Block]:
    """The report as blocks shared by both renderers, section by section."""
    marks = Marks.of(runs, placeholder_images)
    return [
        *banner_section(marks, validation, runs),
        *intro_section(runs, marks),
        *overall_section(runs, marks),
        *human_section(runs),
        *notes_section(runs),
        *leaderboard_section(runs, baselines, marks),
        *calibrated_section(runs, marks),
        *baselines_section(baselines),
        *parsers_section(runs, marks),
        *tie_rule_section(runs, marks),
        *paired_section(runs, marks, all_pairs),
        *domain_section(runs, marks),
        *ablation_section(runs, marks),
        *judge_section(runs, marks),
        *validation_section(validation, marks),
        *examples_section(runs, questions or {}, marks),
    ]


# ---- cells -------------------------------------------------------------------------------------------------


def _finite(value) -> bool:
    """A number the report can print (never ``nan`` or ``inf``)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value) -> str:
    return f"{value:.2f}" if _finite(value) else "–"


def _ci(ci: list | None) -> str:
    ok = isinstance(ci, (list, tuple)) and len(ci) == 2 and all(map(_finite, ci))
    return f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ok else ""


def _with_ci(metrics: dict | None, metric: MetricDef) -> str:
    figure = Figure.of(metrics, metric)
    if figure is None or not _finite(figure.rate):
        return "–"
    return f"{figure.rate:.2f}" + _ci(figure.interval)


def _headline(metrics: dict | None, metric: MetricDef) -> str:
    """A headline rate with its 95% CI and, beside it, its undecided count (generation: the items it leaves
    out, ties / unparsable; MCQA: unparsable answers)."""
    text = _with_ci(metrics, metric)
    figure = Figure.of(metrics, metric)
    if figure is None or figure.undecided is None:
        return text
    return f"{text} ({figure.undecided} {metric.undecided_label})"


def _counted(metrics: dict | None, metric: MetricDef) -> str:
    """A per-domain rate with its interval and the count it is computed from (k/n)."""
    text = _with_ci(metrics, metric)
    figure = Figure.of(metrics, metric)
    if figure is None or figure.rate is None or figure.k is None or figure.n is None:
        return text
    return f"{text} ({figure.k}/{figure.n})"


def _of(run: RunResult, metric: MetricDef) -> dict | None:
    """The metrics of ``run`` that hold ``metric`` (its task's)."""
    return run.tasks.get(metric.task_def.lmms_task)


def _delta(difference: dict | None) -> str:
    """A paired difference in points with its 95% CI, or "–"."""
    return "–" if difference is None else f"{difference['delta']:+.2f}" + _ci(difference["ci95"])


def _marked(title: str, marks: list[str]) -> str:
    """A table's title. Its warnings (``marks``) are said once, in the banner at the top of the report
    (``banner_section``), not on every heading; plots, which are copied out alone, print theirs inside."""
    return title


def _table(title: str, header: list[str], rows: list[list[str]]) -> Block:
    return Block("table", title, (header, rows))


# ---- the sections, in report order ---------------------------------------------------------------------


def banner_section(marks: Marks, validation: dict | None = None, runs: list[RunResult] = ()) -> list[Block]:
    """One status banner, first of all, saying what every figure below is (placeholder images, unverified
    annotations, an approximate judge, for the runs or the judge validation); the tables' titles stay clean
    for a paper."""
    parts = [PLACEHOLDER_NOTE] if marks.placeholder else []
    parts += [block.payload for block in unverified_section(list(runs))]
    if marks.approximate or ((validation or {}).get("judge") or {}).get("approximate"):
        parts.append(APPROXIMATE_NOTE)
    return [Block("warning", "", " ".join(parts))] if parts else []


def unverified_runs(runs: list[RunResult]) -> list[str]:
    """The runs (``name / task``) whose data block says the annotations were not the pinned release's
    (``annotations_verified`` False: a run with ``--no-verify-checksums`` on edited files)."""
    return [
        f"{run.name} / {task}"
        for run in runs
        for task, metrics in run.tasks.items()
        if (metrics.get("data") or {}).get("annotations_verified") is False
    ]


def unverified_section(runs: list[RunResult]) -> list[Block]:
    """A warning when some figures come from annotations that failed the pinned checksum (said in the
    banner, ``banner_section``)."""
    unverified = unverified_runs(runs)
    if not unverified:
        return []
    return [
        Block(
            "warning",
            "",
            "UNVERIFIED ANNOTATIONS: the annotation files of "
            + ", ".join(unverified)
            + " are not the pinned SIUO release (run with --no-verify-checksums on edited files): those "
            "figures are not comparable with SIUO results.",
        )
    ]


def intro_section(runs: list[RunResult], marks: Marks) -> list[Block]:
    intro = (
        f"{len(runs)} model(s). Generation rates are percent of items (majority of the {RESPONSES_PER_ITEM} "
        "responses per item); 95% CIs are Wilson score intervals on the item majorities (they estimate the "
        "rate over items like these, the judge held fixed: its own noise is not sampled); paired differences "
        "use Newcombe's paired interval on the items both runs decide. One denominator: an item whose vote "
        "ties or cannot be parsed on any judged metric is left out of all three rates and counted beside "
        "each; the official scripts' tie rule (a tie is not safe) is shown beside ours. "
    )
    if marks.approximate:
        intro += (
            "Some generation figures come from the APPROXIMATE offline judge: a smoke test, not a "
            "measurement."
        )
    return [Block("text", "SIUO report", intro)]


def overall_section(runs: list[RunResult], marks: Marks) -> list[Block]:
    """One table of every run, or, when the runs were judged by different judges, one table per judge: each
    after the first under a heading saying its judge differs (a judge difference is never shown as a
    model difference)."""
    header = [
        "model",
        *[f"{m.label} % [95% CI] (items left out)" for m in metric_defs()],
        "items scored",
    ]
    groups = judge_groups(runs)
    if len(groups) <= 1:
        return [_table(_marked("Overall", marks.judged), header, overall_rows(runs))]
    labels = judge_labels(runs)
    blocks = []
    for index, group in enumerate(groups):
        label = labels.get(group[0].name)
        about = f"judge {label}: {_judge_text(_judge_block(group[0]))}" if label else "no judged figures"
        title = (
            f"Overall ({about})"
            if index == 0
            else f"Overall, judges differ: these runs were judged by {about}, not the judge of the table(s) "
            "above; compare judged figures only within one table (see 'Judge and data')"
        )
        blocks.append(_table(_marked(title, marks.judged), header, overall_rows(group)))
    return blocks


# ---- which judge: runs are compared only when they share one ------------------------------------------


def _judge_block(run: RunResult) -> dict:
    """The judge block of a run's judged figures (siuo_gen, else the image-blind siuo_gen_text), or {}."""
    for task in ("siuo_gen", "siuo_gen_text"):
        block = (run.tasks.get(task) or {}).get("judge")
        if block:
            return block
    return {}


def judge_key(run: RunResult) -> tuple:
    """What two runs must share for their judged figures to be compared (``same_judge_key``); () when the
    run has no judged figures."""
    return same_judge_key(_judge_block(run))


def judge_labels(runs: list[RunResult]) -> dict[str, str]:
    """Run name -> a short judge label (J1, J2, ... in order of first appearance) for runs with judged
    figures; the judge table spells each one out."""
    keys: dict[tuple, str] = {}
    labels = {}
    for run in runs:
        key = judge_key(run)
        if key:
            labels[run.name] = keys.setdefault(key, f"J{len(keys) + 1}")
    return labels


def judge_groups(runs: list[RunResult]) -> list[list[RunResult]]:
    """The runs grouped by judge, in order of first appearance; runs without judged figures join the first
    group."""
    groups: dict[tuple, list[RunResult]] = {}
    for run in runs:
        groups.setdefault(judge_key(run), []).append(run)
    unjudged = groups.pop((), [])
    ordered = list(groups.values()) or [[]]
    ordered[0] = ordered[0] + unjudged
    return [group for group in ordered if group]


def _judge_text(block: dict) -> str:
    """A judge in a few words: model (as served), backend, endpoint."""
    served = [str(m) for m in block.get("served_models") or () if m != block.get("model")]
    as_served = f" (served as {', '.join(served)})" if served else ""
    endpoint = f" at {block['endpoint']}" if block.get("endpoint") else ""
    return (
        f"{block.get('model')}{as_served}, {block.get('backend')}{endpoint}, "
        f"prompt {block.get('prompt_version')}"
    )


def _named(run: RunResult) -> str:
    """A run's name, with its coverage when partial: never mistaken for a 167-item row."""
    return f"{run.name} ({coverage(run)})" if coverage(run) else run.name


def overall_rows(runs: list[RunResult]) -> list[list[str]]:
    """Our models: every metric with its 95% CI and undecided count, and the items scored."""
    return [[_named(run), *[_headline(_of(run, m), m) for m in metric_defs()], _items(run)] for run in runs]


def _items(run: RunResult) -> str:
    """Items evaluated per task, and how many could not be scored (unparsable)."""
    parts = []
    for task in TASK_DEFS.values():
        metrics = run.tasks.get(task.lmms_task)
        if metrics:
            parts.append(
                f"{task.label} {metrics.get('n_items')} ({metrics.get(task.undecided_key, 0)} unparsable)"
            )
    return "; ".join(parts)


def human_section(runs: list[RunResult]) -> list[Block]:
    """Human-checked figures and agreement, for the runs that have reviews."""
    reviewed = [run for run in runs if run.reviews]
    if not reviewed:
        return []
    figures, agreement = human_rows(reviewed)
    figures_header = [
        "model",
        *[f"{m.label} % [95% CI]" for m in metric_defs(GENERATION)],
        f"judge's own {' / '.join(m.short for m in metric_defs(GENERATION))} %",
        "reviewed responses: safety / effectiveness",
        "reviewers",
    ]
    agreement_header = [
        "model",
        "aspect",
        "between",
        "n",
        "agreement %",
        "Cohen's κ",
        "tp / fn / fp / tn (first = rows)",
    ]
    return [
        _table(
            "Human-checked figures (reviewed verdicts replace the judge's; the rest, and disputed ones, stay "
            "the judge's)",
            figures_header,
            figures,
        ),
        _table(
            "Agreement on the reviewed responses (human verdict = first rater)", agreement_header, agreement
        ),
    ]


def human_rows(runs: list[RunResult]) -> tuple[list[list[str]], list[list[str]]]:
    """Human-checked figures of the reviewed runs, and judge-vs-human (and reviewer-vs-reviewer) agreement."""
    figures, agreement = [], []
    for run in runs:
        checked = rescore(run.gen_rows, run.reviews, run.tasks.get("siuo_gen") or {}, say=_quiet)
        counts = checked["reviewed"]
        figures.append(
            [
                run.name,
                *[_with_ci(checked, m) for m in metric_defs(GENERATION)],
                " / ".join(_fmt(checked["judge_figures"].get(m.name)) for m in metric_defs(GENERATION)),
                " / ".join(
                    f"{counts[a]['responses']} ({counts[a]['disputed']} disputed)"
                    for a in ("safety", "effectiveness")
                ),
                ", ".join(counts["reviewers"]),
            ]
        )
        for aspect, subsets in checked["agreement"]["judge_vs_human"].items():
            for subset, label in (
                ("all", "judge vs human"),
                ("blind", "judge vs human, blind labels"),
                ("not_blind", "judge vs human, labels given seeing the judge's"),
            ):
                if subsets[subset]["n"] or subset == "all":
                    agreement.append([run.name, aspect, label, *_agreement_cells(subsets[subset])])
            for pair in checked["agreement"]["between_reviewers"][aspect]:
                agreement.append([run.name, aspect, " vs ".join(pair["reviewers"]), *_agreement_cells(pair)])
    return figures, agreement


def _agreement_cells(summary: dict) -> list[str]:
    confusion = summary["confusion"]
    return [
        str(summary["n"]),
        _fmt(summary["agreement_percent"]),
        _fmt(summary["kappa"]),
        " / ".join(str(confusion[k]) for k in ("tp", "fn", "fp", "tn")),
    ]


# What a reader must know about how a run's figures were obtained: (metrics key, note when it is set).
NOTES = (
    ("error", "{error}"),
    (
        "judge_errors",
        "{judge_errors} judge call(s) failed; those responses are left out (re-run the same "
        "command to complete them)",
    ),
    ("failed_requests", "{failed_requests} model request(s) failed"),
    (
        "empty_responses",
        "{empty_responses} empty response(s), decided by rule (safe, not effective) without a judge call",
    ),
    ("human_checked", "human-checked figures (siuo-eval rescore): reviewed verdicts replace the judge's"),
    ("paper_compat_note", "{paper_compat_note}"),
)


def notes_section(runs: list[RunResult]) -> list[Block]:
    notes = run_notes(runs)
    return [Block("notes", "Notes on these figures", notes)] if notes else []


def run_notes(runs: list[RunResult]) -> list[str]:
    """What the run reader chose (the latest of several runs in one folder, ...) and the NOTES that apply to
    each run's results (errors, rules, guesses), in run and task order."""
    return (
        [f"{run.name}: {note}" for run in runs for note in run.notes]
        + [
            f"{run.name} / {task}: " + note.format_map(metrics)
            for run in runs
            for task, metrics in run.tasks.items()
            for key, note in NOTES
            if metrics.get(key)
        ]
        + [
            f"{run.name} / {task}: {truncated} judge replies were cut off (max_tokens or a content filter) "
            "and count as unparsable; raise --judge-arg max_tokens to let the judge finish"
            for run in runs
            for task, metrics in run.tasks.items()
            if isinstance(metrics.get("summary"), dict) and (truncated := metrics["summary"].get("truncated"))
        ]
    )


LEADERBOARD_CAVEATS = {
    "ours": "judged by the named LLM judge, not humans; one MCQA prompt for every model; MCQA % = strict "
    "parser, paper-compat = the official parser on the same answers",
    "paper": "generation human-evaluated (not comparable in evaluator); MCQA: each model's own prompt, "
    "official parser; no intervals published",
    "baseline": "text only, never sees the image; an answer-surface heuristic, not a model",
}


def leaderboard_section(runs: list[RunResult], baselines: dict | None, marks: Marks) -> list[Block]:
    """Ours (with 95% CIs, and MCQA under the official parser too), the paper's leaderboard and the MCQA
    surface baselines: three labelled tables, read one under the other (never one table told apart by a source
    column), each saying in its title what limits the comparison."""
    header = ["model", *[f"{m.label} % [95% CI]" for m in metric_defs()]]
    return [
        _table(
            _marked(
                f"Our models ({_judges_text(runs)}; {LEADERBOARD_CAVEATS['ours']}). Compare our "
                "paper-compat MCQA with the paper's MCQA column",
                marks.judged,
            ),
            [*header, "MCQA paper-compat %"],
            ours_rows(runs),
        ),
        _table(
            f"{PAPER_SOURCE[0].upper() + PAPER_SOURCE[1:]}; {LEADERBOARD_CAVEATS['paper']}",
            ["model", *[f"{m.label} %" for m in metric_defs()]],
            paper_rows(),
        ),
        _table(
            "MCQA surface baselines (the project page's Random Choice row beside ours; "
            f"{LEADERBOARD_CAVEATS['baseline']})",
            header,
            surface_rows(baselines),
        ),
        *_plot(
            len(runs),
            Block(
                "plot",
                "Our models (95% CI) beside the paper's leaderboard",
                (OVERALL_PLOT, "Overall", marks.judged),
            ),
        ),
    ]


def _leaderboard_row(name: str, figures: dict) -> list[str]:
    """A leaderboard row: ``figures`` (a metrics dict: metric -> value, ``ci95``) in the metrics' columns,
    with its interval where it has one, "–" where it has no figure."""
    return [name, *[_with_ci(figures, m) for m in metric_defs()]]


def ours_rows(runs: list[RunResult]) -> list[list[str]]:
    """Our models: each metric with its 95% CI, then MCQA under the official parser."""
    return [[*_leaderboard_row(_named(run), _figures_of(run)), _paper_compat_mcqa(run)] for run in runs]


def paper_rows() -> list[list[str]]:
    """The leaderboard rows of the paper's project page (no intervals published)."""
    return [[name, *[_fmt(figures.get(m.name)) for m in metric_defs()]] for name, figures in PAPER_ROWS]


def baseline_label(name: str, figures: dict) -> str:
    """A surface baseline's row name: what it does, so it is never read as a model of the same name."""
    return f"{figures.get('description') or name} (baseline)"


def surface_rows(baselines: dict | None) -> list[list[str]]:
    """The MCQA surface baselines (MCQA answers only, with their intervals), the project page's random row
    beside ours."""
    paper_random = [
        f"{PAPER_RANDOM_ROW[0]} (paper)",
        *[_fmt(PAPER_RANDOM_ROW[1].get(m.name)) for m in metric_defs()],
    ]
    rows = []
    mcqa = metric_names(MCQA)
    for name, figures in (baselines or {}).items():
        scored = {k: figures.get(k) for k in mcqa} | {"ci95": figures.get("ci95") or {}}
        rows.append(_leaderboard_row(baseline_label(name, figures), scored))
        if name == "random":  # the page's own random row beside ours (ours is the exact expectation, 25%)
            rows.append(paper_random)
    if paper_random not in rows:
        rows.append(paper_random)
    return rows


def _figures_of(run: RunResult) -> dict:
    """Every metric of ``run`` with its interval, as one metrics dict (each from its task's metrics)."""
    figures: dict = {"ci95": {}}
    for metric in metric_defs():
        metrics = _of(run, metric) or {}
        figures[metric.name] = metrics.get(metric.name)
        figures["ci95"][metric.name] = (metrics.get("ci95") or {}).get(metric.name)
    return figures


def _paper_compat_mcqa(run: RunResult) -> str:
    """Our MCQA accuracy under the official parser (paper-compat) on the same answers, or "–"."""
    compat = ((run.tasks.get("siuo_mcqa") or {}).get("parsers") or {}).get("paper_compat") or {}
    return _fmt(compat.get("accuracy"))


def _judges_text(runs: list[RunResult]) -> str:
    """The judges behind our generation figures, in words."""
    judges = []
    for run in runs:
        judge = (run.tasks.get("siuo_gen") or {}).get("judge") or {}
        if judge:
            label = f"{judge.get('model')}{', APPROXIMATE' if judge.get('approximate') else ''}"
            judges += [label] if label not in judges else []
    return f"generation judged by {'; '.join(judges)}" if judges else "MCQA only"


def calibrated_section(runs: list[RunResult], marks: Marks) -> list[Block]:
    """Runs whose labels hold a calibration sample (``siuo-eval review --calibration-sample``): the
    human-calibrated figures beside the paper's human-evaluated rows (like for like), the judge-only and
    the human-only figures marked as such, and the calibrated figures per domain."""
    blocks = {}
    for run in runs:
        found = calibration_block(run.gen_rows, run.reviews, run.tasks.get("siuo_gen") or {}, say=_quiet)
        if run.reviews and found and found.get("labelled_items"):
            blocks[run.name] = (run, found)
    if not blocks:
        return []
    generation = metric_defs(GENERATION)
    header = ["model", "source", *[f"{m.label} % [95% CI]" for m in generation]]
    rows = [row for run, found in blocks.values() for row in calibrated_rows(run, found)]
    rows += [
        [name, PAPER_SOURCE, *[_fmt(figures.get(m.name)) for m in generation]] for name, figures in PAPER_ROWS
    ]
    title = _marked(
        "Human-calibrated figures beside the paper's human-evaluated rows (like for like: the judge's "
        "verdicts on every item corrected by human labels on a uniform random sample; judge-only figures "
        "are NOT human-evaluated; undecided item majorities count one half)",
        marks.base,
    )
    domain_header = ["model", "figure", *DOMAIN_NAMES]
    domain_rows = [
        [_named(run), m.label, *[_calibrated_domain(found[m.name]["per_domain"][d]) for d in DOMAIN_NAMES]]
        for run, found in blocks.values()
        for m in generation
    ]
    return [
        _table(title, header, rows),
        _table(
            _marked(
                "Human-calibrated figures by domain (— where fewer than 10 items are labelled)", marks.base
            ),
            domain_header,
            domain_rows,
        ),
    ]


def _quiet(message: str) -> None:
    """Labels refused for calibration are said by ``rescore``; the report only leaves them out."""


def calibrated_rows(run: RunResult, found: dict) -> list[list[str]]:
    """A run's calibrated figures, then its judge-only and human-only figures, each row saying its source."""
    judge = found.get("judge") or {}
    judge_name = f"{judge.get('model')} judge{', APPROXIMATE' if judge.get('approximate') else ''}"
    first = found[metric_names(GENERATION)[0]]
    sample = f"{first['n_labelled']} of {first['n_items']} items labelled, seed {found['seed']}"

    def cells(rate: str, interval: str) -> list[str]:
        return [
            f"{_fmt(found[name][rate])}{_ci(found[name].get(interval) if interval else None)}"
            for name in metric_names(GENERATION)
        ]

    return [
        [_named(run), f"ours, human-calibrated ({judge_name}; {sample})", *cells("rate", "ci95")],
        [_named(run), f"ours, {judge_name} only: NOT human-evaluated", *cells("judge_rate", "")],
        [_named(run), f"ours, human labels only ({sample}; Wilson)", *cells("human_rate", "human_ci95")],
    ]


def _calibrated_domain(figure: dict) -> str:
    if figure.get("rate") is None:
        return f"— ({figure['n_labelled']} labelled)"
    return f"{_fmt(figure['rate'])}{_ci(figure['ci95'])} ({figure['n_labelled']}/{figure['n_items']})"


def baselines_section(baselines: dict | None) -> list[Block]:
    if not baselines:
        return []
    title = (
        "MCQA surface baselines by domain (accuracy %, text only, never the image): surface cues alone "
        "score comparably to models on MCQA (overall, within their 95% intervals), so read MCQA accuracy "
        "beside these"
    )
    return [_table(title, ["baseline", *DOMAIN_NAMES], baseline_domain_rows(baselines))]


def baseline_domain_rows(baselines: dict) -> list[list[str]]:
    """MCQA accuracy of each surface baseline by domain."""
    return [
        [
            baseline_label(name, figures),
            *[_fmt(((figures.get("per_domain") or {}).get(d) or {}).get("accuracy")) for d in DOMAIN_NAMES],
        ]
        for name, figures in baselines.items()
    ]


def paired_section(runs: list[RunResult], marks: Marks, all_pairs: bool = False) -> list[Block]:
    rows = paired_rows(runs, all_pairs)
    apart = judges_differ_rows(runs, all_pairs)
    skipped = 0 if all_pairs else _incomparable_pairs(runs)
    if not rows and not skipped and not apart:
        return []
    comparisons = sum(cell != "–" for row in rows for cell in row[1:])  # the intervals shown
    title = _marked(
        "Paired differences between models (first minus second, in points, over the items both scored; "
        "Newcombe's paired 95% CI; judged figures only between runs with the same judge). Many "
        "comparisons: "
        f"{comparisons} intervals here, so about 1 in 20 excludes 0 by chance alone even where models do not "
        f"differ; for a family-wise 95% level read only those that stay clear of 0 at 1 − 0.05/{comparisons} "
        "(Bonferroni)",
        marks.judged,
    )
    header = ["models (first − second)", *[f"Δ {m.label} [95% CI]" for m in metric_defs()]]
    blocks = [_table(title, header, rows)] if rows else []
    if apart:
        blocks.append(
            _table(
                _marked(
                    "Judges differ: paired differences between runs judged by different judges (each Δ "
                    "mixes the model difference with the judge difference, so it is NOT a difference between "
                    "models; judges in 'Judge and data')",
                    marks.judged,
                ),
                [
                    "runs (first − second)",
                    "judges",
                    *[f"Δ {m.label} [95% CI]" for m in metric_defs(GENERATION)],
                ],
                apart,
            )
        )
    if skipped:
        blocks.append(
            Block(
                "notes",
                "Pairs not compared",
                [
                    f"{skipped} pair(s) of models not compared as models: they ran on different items or "
                    "were judged by different judges (those pairs are in the 'Judges differ' table where at "
                    f"most {ALL_PAIRS_UP_TO} runs are reported), so a paired difference would not measure "
                    "the models alone; or, among more than "
                    f"{ALL_PAIRS_UP_TO} models on the same items and judge, they are not neighbours in the "
                    "ranking (each model is compared with the next one down). siuo-eval report --all-pairs "
                    "computes every pair"
                ],
            )
        )
    return blocks


def comparable_key(run: RunResult, task: str) -> tuple | None:
    """What two runs must share for a paired difference on ``task`` to measure the models alone: the same
    items (the ids of its per-item verdicts) and, for a judged task, the same judge (``judge_key``). None
    without per-item verdicts (nothing to pair)."""
    metrics = run.tasks.get(task) or {}
    items = metrics.get("per_item")
    if not items:
        return None
    judged = any(m.task_def.judged for m in metric_defs() if m.task_def.lmms_task == task)
    return frozenset(items), judge_key(run) if judged else ()


def comparable_pairs(runs: list[RunResult], all_pairs: bool = False) -> list[tuple[RunResult, RunResult]]:
    """The pairs of runs (in run order) that share items and judge on some task; every pair with
    ``all_pairs``. Grouping by key keeps this linear in the runs, not quadratic in incomparable pairs. A group
    of more than ``ALL_PAIRS_UP_TO`` runs (a sweep) is compared neighbour to neighbour in the order of its
    task's first metric (each model against the next one down the ranking): n − 1 pairs, not n(n − 1)/2."""
    if all_pairs:
        return [(first, second) for i, first in enumerate(runs) for second in runs[i + 1 :]]
    partners: dict[int, set[int]] = {}
    for task in sorted({m.task_def.lmms_task for m in metric_defs()}):
        groups: dict[tuple, list[int]] = {}
        for index, run in enumerate(runs):
            key = comparable_key(run, task)
            if key is not None:
                groups.setdefault(key, []).append(index)
        for members in groups.values():
            if len(members) > ALL_PAIRS_UP_TO:
                ranked = _ranked(runs, members, task)
                for first, second in zip(ranked, ranked[1:]):
                    partners.setdefault(min(first, second), set()).add(max(first, second))
                continue
            for position, index in enumerate(members):
                partners.setdefault(index, set()).update(members[position + 1 :])
    return [(runs[i], runs[j]) for i in sorted(partners) for j in sorted(partners[i])]


def _ranked(runs: list[RunResult], members: list[int], task: str) -> list[int]:
    """``members`` (run indexes) from the highest to the lowest rate of ``task``'s first metric."""
    metric = next(m for m in metric_defs() if m.task_def.lmms_task == task)

    def rate(index: int) -> float:
        value = (runs[index].tasks.get(task) or {}).get(metric.name)
        return value if _finite(value) else -math.inf

    return sorted(members, key=lambda index: (-rate(index), index))


def _incomparable_pairs(runs: list[RunResult]) -> int:
    """How many pairs of runs with per-item verdicts are left out as not comparable."""
    tasks = {m.task_def.lmms_task for m in metric_defs()}
    with_items = [run for run in runs if any(comparable_key(run, task) for task in tasks)]
    return len(with_items) * (len(with_items) - 1) // 2 - len(comparable_pairs(with_items))


def paired_rows(runs: list[RunResult], all_pairs: bool = False) -> list[list[str]]:
    """Each comparable pair of models (``comparable_pairs``; every pair with ``all_pairs``): first minus
    second per metric over the items both scored, with a paired 95% CI. A metric whose task the two do not
    share items and judge on is "–" unless ``all_pairs``."""
    rows = []
    for first, second in comparable_pairs(runs, all_pairs):
        cells = []
        for m in metric_defs():
            task = m.task_def.lmms_task
            key = comparable_key(first, task)
            same = all_pairs or (key is not None and key == comparable_key(second, task))
            cells.append(
                _delta(paired_difference(_of(first, m) or {}, _of(second, m) or {}, m.name)) if same else "–"
            )
        if any(cell != "–" for cell in cells):
            rows.append([f"{first.name} − {second.name}", *cells])
    return rows


def judges_differ_rows(runs: list[RunResult], all_pairs: bool = False) -> list[list[str]]:
    """The judged metrics' paired differences between runs judged by different judges, set apart; only for
    at most ``ALL_PAIRS_UP_TO`` runs (a sweep's cross-judge pairs are counted, not computed) unless
    ``all_pairs``."""
    rows = []
    if len(runs) > ALL_PAIRS_UP_TO and not all_pairs:
        return rows
    labels = judge_labels(runs)
    for index, first in enumerate(runs):
        for second in runs[index + 1 :]:
            if not judge_key(first) or not judge_key(second) or judge_key(first) == judge_key(second):
                continue
            cells = [
                _delta(paired_difference(_of(first, m) or {}, _of(second, m) or {}, m.name))
                for m in metric_defs(GENERATION)
            ]
            if any(cell != "–" for cell in cells):
                judges = f"{labels[first.name]} vs {labels[second.name]}"
                rows.append([f"{first.name} − {second.name}", judges, *cells])
    return rows


def domain_section(runs: list[RunResult], marks: Marks) -> list[Block]:
    """Per metric that some model has: a table by domain (the models side by side) and its plot."""
    blocks = []
    for metric in metric_defs():
        labels = judge_labels(runs) if metric.task_def.judged and len(judge_groups(runs)) > 1 else {}
        with_task = [
            f"{run.name} [judge {labels[run.name]}]" if run.name in labels else run.name
            for run in runs
            if _of(run, metric) is not None
        ]
        if with_task:
            metric_marks = marks.judged if metric.task_def.judged else marks.base
            label = metric.label
            title = _marked(
                f"{label} % [95% CI] (k of n items) by domain; Wilson intervals, honest at 0% and 100%",
                metric_marks,
            )
            rows = domain_rows(runs, metric)
            header = (
                ["domain", *with_task]
                if len(rows[0]) == len(with_task) + 1
                else ["domain", "items", *with_task]
            )
            blocks += [
                _table(title, header, rows),
                *_plot(
                    len(with_task),
                    Block(
                        "plot",
                        _marked(f"{label} by domain", metric_marks),
                        (metric.name, label, metric_marks),
                    ),
                ),
            ]
    return blocks


def _plot(models: int, block: Block) -> list[Block]:
    """``block`` (a plot), or a note saying why it is left out: more models than a readable chart holds."""
    if models <= PLOTTED_UP_TO:
        return [block]
    return [
        Block(
            "notes",
            block.title,
            [
                f"No chart: {models} models are more than a readable bar chart holds ({PLOTTED_UP_TO}); the "
                "table holds every figure (pass fewer run folders for a chart)"
            ],
        )
    ]


def domain_rows(runs: list[RunResult], metric: MetricDef) -> list[list[str]]:
    """One row per domain: ``metric`` (with its 95% CI and its k/n) for each model side by side, after the
    domain's item count when every model scored the same items there (else each model's k/n is its count)."""
    per_model = [
        (_of(run, metric) or {}).get("per_domain", {}) for run in runs if _of(run, metric) is not None
    ]
    counts = [[d.get(name, {}).get("n_items") for d in per_model] for name in DOMAIN_NAMES]
    shared = all(len(set(row)) == 1 for row in counts)
    return [
        [name, *([str(row[0]) if row[0] is not None else "–"] if shared else [])]
        + [_counted(d.get(name), metric) for d in per_model]
        for name, row in zip(DOMAIN_NAMES, counts)
    ]


def ablation_section(runs: list[RunResult], marks: Marks) -> list[Block]:
    """One image-blind ablation table per run that has text-only results."""
    header = ["domain", *[f"Δ {m.label}" for m in metric_defs()]]
    blocks = []
    for run in runs:
        rows = ablation_rows(run)
        if rows:
            title = _marked(
                f"Image-blind ablation: {run.name} (with image minus without, in points, paired over the "
                "same items, 95% CI: how much seeing the image changes each metric)",
                marks.judged,
            )
            blocks.append(_table(title, header, rows))
    return blocks


def ablation_rows(run: RunResult) -> list[list[str]] | None:
    """Per domain: with-image minus image-blind for each metric, paired over the same items with a 95% CI
    when the metrics hold per-item verdicts (else the plain difference of the rates). None without text-only
    runs."""
    pairs = [(m.task_def.lmms_task, m.task_def.blind_task, m.name) for m in metric_defs()]
    if not any(text in run.tasks for _, text, _ in pairs):
        return None

    def delta(full_task: str, blind_task: str, key: str, domain: str | None) -> str:
        full, blind = run.tasks.get(full_task) or {}, run.tasks.get(blind_task) or {}
        if full.get("per_item") and blind.get("per_item"):
            return _delta(paired_difference(full, blind, key, domain))
        if domain is not None:
            full, blind = (
                (full.get("per_domain") or {}).get(domain) or {},
                (blind.get("per_domain") or {}).get(domain) or {},
            )
        if full.get(key) is None or blind.get(key) is None:
            return "–"
        return f"{full[key] - blind[key]:+.2f}"

    return [
        [domain or "all", *[delta(a, b, k, domain) for a, b, k in pairs]] for domain in (None, *DOMAIN_NAMES)
    ]


def judge_section(runs: list[RunResult], marks: Marks) -> list[Block]:
    rows = judge_rows(runs)
    if not rows:
        return []
    header = [
        "run",
        "task",
        "judge",
        "backend",
        "endpoint",
        "model (requested / as answered)",
        "system fingerprint",
        "prompt",
        "temperature",
        "max tokens",
        "options",
        "judge input",
        "note",
        "data",
    ]
    return [_table(_marked("Judge and data", marks.judged), header, rows)]


def _unknown(value) -> str:
    """A judge field an older results file does not hold: "not recorded"."""
    return "not recorded" if value is None else str(value)


def judge_rows(runs: list[RunResult]) -> list[list[str]]:
    """Each run's judge, field by field, with its label (J1, ...: same label, same judge) and identity
    digest."""
    rows = []
    labels = judge_labels(runs)
    for run in runs:
        for task in ("siuo_gen", "siuo_gen_text"):
            metrics = run.tasks.get(task) or {}
            block, data = metrics.get("judge"), metrics.get("data") or {}
            if not block:
                continue
            sha = ", ".join(f"{k} {v[:12]}" for k, v in (data.get("sha256") or {}).items())
            if data.get("annotations_verified") is False:
                sha += " UNVERIFIED (not the pinned release)"
            if data.get("images_sha256"):
                sha += f", images {data['images_sha256'][:12]}"
            label = labels.get(run.name, "") if same_judge_key(block) == judge_key(run) else ""
            served = block.get("served_models")
            options = block.get("options")
            rows.append(
                [
                    run.name,
                    task,
                    f"{label} {judge_identity(block)}".strip(),
                    str(block.get("backend")),
                    _unknown(block.get("endpoint")) if "endpoint" in block else "not recorded",
                    f"{block.get('model')} / "
                    + (", ".join(map(str, served)) if served else "not recorded" if served is None else "–"),
                    ", ".join(map(str, block.get("system_fingerprints") or ())) or "–",
                    _prompt_label(block.get("prompt_version")),
                    str(block.get("temperature")),
                    _unknown(block.get("max_tokens")) if "max_tokens" in block else "not recorded",
                    ", ".join(f"{k}={v}" for k, v in sorted((options or {}).items())) or "–",
                    "text only" if block.get("text_only") else "with image",
                    "APPROXIMATE" if block.get("approximate") else "",
                    f"{data.get('origin', '?')} {data.get('revision') or ''} {sha}".strip(),
                ]
            )
    return rows


# prompt versions of earlier releases, still readable: their results are labelled, never silently mixed
OLDER_PROMPTS = {
    "siuo-judge-v2": "siuo-judge-v2 (older prompt: criteria reworded with additions; image first)",
    "siuo-judge-v1": "siuo-judge-v1 (older prompt)",
}


def _prompt_label(version) -> str:
    return OLDER_PROMPTS.get(str(version), str(version))


def parsers_section(runs: list[RunResult], marks: Marks) -> list[Block]:
    """MCQA accuracy of the same answers under our strict parser and the official one (paper-compat)."""
    rows = parsers_rows(runs)
    if not rows:
        return []
    title = _marked(
        "MCQA accuracy of the same answers under both parsers (strict: ours, the default; paper-compat: the "
        "official script's parser, quirks included, with its random letter seeded where it finds none)",
        marks.base,
    )
    header = ["model", "task", "strict %", "unparsable", "paper-compat %", "guessed"]
    return [_table(title, header, rows)]


def parsers_rows(runs: list[RunResult]) -> list[list[str]]:
    rows = []
    for run in runs:
        for task in ("siuo_mcqa", "siuo_mcqa_text"):
            both = (run.tasks.get(task) or {}).get("parsers")
            if not isinstance(both, dict):
                continue
            strict, compat = both.get("strict") or {}, both.get("paper_compat") or {}
            rows.append(
                [
                    run.name,
                    task,
                    _fmt(strict.get("accuracy")),
                    str(strict.get("unparsable", "–")),
                    _fmt(compat.get("accuracy")),
                    str(compat.get("guessed", "–")),
                ]
            )
    return rows


def tie_rule_section(runs: list[RunResult], marks: Marks) -> list[Block]:
    """Generation figures under our denominator rule and under the official tie rule, side by side."""
    rows = tie_rule_rows(runs)
    if not rows:
        return []
    title = _marked(
        "Generation rates under both tie rules (ours: items with a tie or no parsable vote on any judged "
        "metric are left out of all three rates and counted; paper-compat: the official majority, max over "
        "set(scores) by scores.count, where a tie counts as not safe / not effective, over every item)",
        marks.judged,
    )
    header = [
        "model",
        *[f"{m.short} % ours (n)" for m in metric_defs(GENERATION)],
        "undecided items",
        *[f"{m.short} % paper-compat [95% CI]" for m in metric_defs(GENERATION)],
    ]
    return [_table(title, header, rows)]


def tie_rule_rows(runs: list[RunResult]) -> list[list[str]]:
    rows = []
    for run in runs:
        metrics = run.tasks.get("siuo_gen") or {}
        compat = metrics.get("paper_compat")
        if not isinstance(compat, dict):
            continue
        ours = [Figure.of(metrics, m) for m in metric_defs(GENERATION)]
        rows.append(
            [
                _named(run),
                *[f"{_fmt(f.rate)} ({f.n})" if f is not None else "–" for f in ours],
                str(metrics.get("undecided_items", "–")),
                *[_with_ci(compat, m) for m in metric_defs(GENERATION)],
            ]
        )
    return rows


def validation_section(validation: dict | None, marks: Marks) -> list[Block]:
    """The judge validation (validate-judge), marked APPROXIMATE by its own judge, not the runs'."""
    if not validation:
        return []
    approximate = (validation.get("judge") or {}).get("approximate")
    title = _marked(
        "Judge validation (the 668 MCQA options as labelled responses: correct option = safe). Headline: "
        "the reference-hidden rows. The with-reference rows are circular: 166 of the 167 correct options "
        "are the reference answer the judge is shown, so matching the two scores them safe without "
        "judging anything"
        + (
            ". The offline judge is a smoke-test judge: its figure is the reference-hidden one, "
            "not a measurement"
            if (validation.get("judge") or {}).get("backend") == "offline"
            else ""
        ),
        ([APPROXIMATE_MARK] if approximate else []) + marks.base,
    )
    header = [
        "judge",
        "variant",
        "figure",
        "balanced accuracy",
        "Cohen's κ",
        "tp / fn / fp / tn",
        "unparsable",
        "n",
    ]
    return [_table(title, header, validation_rows(validation))]


def validation_rows(validation: dict) -> list[list[str]]:
    """One row per variant and figure (safe; safe and effective if asked; per aspect for human labels): the
    reference-hidden figures first (the headline), then the circular with-reference ones, then human
    labels."""
    model = str((validation.get("judge") or {}).get("model"))
    cases = []
    for variant, label in (
        ("reference_blind", "reference answer hidden"),
        ("with_reference", "with reference answer (protocol)"),
    ):
        figures = validation.get(variant) or {}
        cases += [
            (label, "safe vs not", figures),
            (label, "safe & effective vs not", figures.get("safe_and_effective")),
        ]
    for aspect, figures in (validation.get("human_labels") or {}).items():
        cases.append(("human labels (siuo-eval review)", aspect, figures))
        for kind, text in (
            ("blind", "blind labels"),
            ("not_blind", "non-blind labels (judge's verdict seen)"),
        ):
            if isinstance(figures, dict) and (figures.get(kind) or {}).get("n"):
                cases.append((f"human labels: {text}", aspect, figures[kind]))
    rows = []
    for label, figure, figures in cases:
        if figures:
            confusion = figures.get("confusion") or {}
            counts = " / ".join(str(confusion.get(k, "–")) for k in ("tp", "fn", "fp", "tn"))
            rows.append(
                [
                    model,
                    label,
                    figure,
                    _fmt(figures.get("balanced_accuracy")),
                    _fmt(figures.get("kappa")),
                    counts,
                    str(figures.get("unparsable", "–")),
                    str(figures.get("n")),
                ]
            )
    return rows


def examples_section(runs: list[RunResult], questions: dict[int, str], marks: Marks) -> list[Block]:
    examples = [row for run in runs for row in failing_examples(run, questions)]
    if not examples:
        return []
    header = ["model", "question_id", "question", "response", "verdict"]
    title = _marked("Failing examples (responses judged unsafe)", marks.judged)
    return [Block("examples", title, (header, examples))]


def failing_examples(run: RunResult, questions: dict[int, str], limit: int = 3) -> list[list[str]]:
    """Up to ``limit`` responses judged unsafe, one per item, lowest question_id first."""
    seen, examples = set(), []
    for row in sorted(run.gen_rows, key=lambda r: (r.get("question_id", 0), r.get("response_index", 0))):
        if row.get("safe") is False and row["question_id"] not in seen and len(examples) < limit:
            seen.add(row["question_id"])
            question = questions.get(row["question_id"], "(question text unavailable: pass --data-dir)")
            examples.append(
                [
                    run.name,
                    str(row["question_id"]),
                    question,
                    _clip(str(row.get("response", "")), 600),
                    f"safe: {_verdict(row.get('safe'))}; effective: {_verdict(row.get('effective'))}",
                ]
            )
    return examples


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " […]"


def _verdict(value) -> str:
    return {True: "yes", False: "no", None: "unparsable"}.get(value, str(value))
