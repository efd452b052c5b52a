"""Results -> report: run folders are read into ``RunResult``s, then rendered as Markdown and a
self-contained HTML page (plots embedded as base64 PNG). Model text is escaped (untrusted).

A run folder is either an lmms-eval output folder written through ``siuo-eval`` (files
``*siuo_gen.metrics.json``, ``*siuo_mcqa.metrics.json``, ``*_text`` variants and ``*.rows.jsonl``;
the newest of each is used) or a ``siuo-eval judge`` / ``score-mcqa`` output (``metrics.json``).
"""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_dataset.errors import SiuoError
from siuo_task.io import read_jsonl

GEN_COLUMNS = (("safe", "Safe"), ("effective", "Effective"), ("safe_and_effective", "Safe & Effective"))
TASK_FILES = ("siuo_gen", "siuo_mcqa", "siuo_gen_text", "siuo_mcqa_text")
# The paper's leaderboard (269 items, GPT-4V judge): safe / effective / safe & effective / MCQA accuracy.
PAPER_ROWS = (
    ("GPT-4V", 53.29, 69.46, 23.35, 38.92),
    ("GPT-4o", 50.90, 95.81, 46.71, 41.32),
    ("Gemini 1.5 Pro", 52.10, 91.62, 45.51, 47.31),
    ("LLaVA-1.6-34B", 40.72, 95.81, 37.13, 52.69),
    ("LLaVA-1.5-7B", 21.56, 87.43, 16.17, 33.53),
)
CONTENT_WARNING = "Content warning: the examples below contain model answers about self-harm, crime and other harmful topics."


@dataclass
class RunResult:
    """One model's SIUO results, as read from its run folder."""

    name: str
    tasks: dict[str, dict] = field(default_factory=dict)  # task -> metrics dict
    gen_rows: list[dict] = field(default_factory=list)  # per-response judgements of siuo_gen


def _newest(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.rglob(pattern), key=lambda p: (p.stat().st_mtime, p.name))
    return found[-1] if found else None


def read_run(folder: str | Path, name: str | None = None) -> RunResult:
    """Read one run folder (see module docstring); error if it holds no SIUO results."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SiuoError(f"run folder {folder} does not exist")
    run = RunResult(name or folder.name)
    for task in TASK_FILES:
        metrics = _newest(folder, f"*{task}.metrics.json")
        if metrics is not None and metrics.name.endswith(f"{task}.metrics.json") and \
                not metrics.name.endswith(f"{task}_text.metrics.json"):
            run.tasks[task] = _load_json(metrics)
    plain = folder / "metrics.json"
    if plain.is_file():
        metrics = _load_json(plain)
        run.tasks["siuo_gen" if "safe" in metrics else "siuo_mcqa"] = metrics
    rows = _newest(folder, "*siuo_gen.rows.jsonl") or (folder / "judgements.jsonl")
    if rows.is_file():
        run.gen_rows = [row for _, row in read_jsonl(rows)]
    if not run.tasks:
        raise SiuoError(f"{folder} holds no SIUO results (no *siuo_gen.metrics.json, *siuo_mcqa.metrics.json or "
                        "metrics.json): pass a siuo-eval output folder")
    return run


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SiuoError(f"{path} is not a readable results file ({error})") from None


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def _with_ci(metrics: dict | None, key: str) -> str:
    if not metrics or metrics.get(key) is None:
        return "–"
    ci = (metrics.get("ci95") or {}).get(key)
    return f"{metrics[key]:.2f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")


def overall_rows(runs: list[RunResult]) -> list[list[str]]:
    """Our models: safe / effective / S&E / MCQA accuracy, each with its 95% CI."""
    return [[run.name, *[_with_ci(run.tasks.get("siuo_gen"), k) for k, _ in GEN_COLUMNS],
             _with_ci(run.tasks.get("siuo_mcqa"), "accuracy")] for run in runs]


def domain_rows(run: RunResult) -> list[list[str]]:
    gen = (run.tasks.get("siuo_gen") or {}).get("per_domain", {})
    mcqa = (run.tasks.get("siuo_mcqa") or {}).get("per_domain", {})
    return [[name, *[_fmt(gen.get(name, {}).get(k)) for k, _ in GEN_COLUMNS], _fmt(mcqa.get(name, {}).get("accuracy"))]
            for name in DOMAIN_NAMES]


def ablation_rows(run: RunResult) -> list[list[str]] | None:
    """Per domain: with-image minus image-blind, for each metric (None without text-only runs)."""
    pairs = [("siuo_gen", "siuo_gen_text", k) for k, _ in GEN_COLUMNS] + [("siuo_mcqa", "siuo_mcqa_text", "accuracy")]
    if not any(text in run.tasks for _, text, _ in pairs):
        return None

    def delta(full: dict | None, blind: dict | None, key: str) -> str:
        if not full or not blind or full.get(key) is None or blind.get(key) is None:
            return "–"
        return f"{full[key] - blind[key]:+.2f}"
    rows = [["all", *[delta(run.tasks.get(a), run.tasks.get(b), k) for a, b, k in pairs]]]
    for name in DOMAIN_NAMES:
        rows.append([name, *[delta((run.tasks.get(a) or {}).get("per_domain", {}).get(name),
                                   (run.tasks.get(b) or {}).get("per_domain", {}).get(name), k) for a, b, k in pairs]])
    return rows


def failing_examples(run: RunResult, limit: int = 3) -> list[dict]:
    """A few responses judged unsafe, one per item (question_id, response, verdicts)."""
    seen, examples = set(), []
    for row in run.gen_rows:
        if row.get("safe") is False and row["question_id"] not in seen:
            seen.add(row["question_id"])
            examples.append(row)
    return examples[:limit]


def judge_blocks(runs: list[RunResult]) -> list[tuple[str, dict]]:
    return [(run.name, run.tasks["siuo_gen"]["judge"]) for run in runs if "judge" in run.tasks.get("siuo_gen", {})]


def plot_png(runs: list[RunResult], metric: str, label: str) -> bytes:
    """A grouped bar chart of ``metric`` by domain, one bar per model (PNG bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task, key = ("siuo_mcqa", "accuracy") if metric == "accuracy" else ("siuo_gen", metric)
    runs = [run for run in runs if task in run.tasks]
    figure, axis = plt.subplots(figsize=(9, 4.2), dpi=90)
    width = 0.8 / max(len(runs), 1)
    for index, run in enumerate(runs):
        per_domain = (run.tasks.get(task) or {}).get("per_domain", {})
        values = [per_domain.get(name, {}).get(key) or 0.0 for name in DOMAIN_NAMES]
        axis.bar([i + index * width for i in range(len(DOMAIN_NAMES))], values, width, label=run.name)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(DOMAIN_NAMES))])
    axis.set_xticklabels(DOMAIN_NAMES, fontsize=7, rotation=30, ha="right")
    axis.set_ylabel(f"{label} (%)")
    axis.set_ylim(0, 100)
    axis.set_title(f"{label} by domain")
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |"
                              for row in rows])


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


OVERALL_HEADER = ["model", "Safe % [95% CI]", "Effective % [95% CI]", "Safe & Effective % [95% CI]",
                  "MCQA accuracy % [95% CI]"]
DOMAIN_HEADER = ["domain", "Safe %", "Effective %", "Safe & Effective %", "MCQA accuracy %"]
ABLATION_HEADER = ["domain", "Δ Safe", "Δ Effective", "Δ Safe & Effective", "Δ MCQA accuracy"]


def sections(runs: list[RunResult], validation: dict | None, placeholder_images: bool) -> list[tuple[str, str, object]]:
    """The report as (kind, title, payload) blocks shared by both renderers."""
    blocks: list[tuple[str, str, object]] = []
    if placeholder_images:
        blocks.append(("warning", "", "PLACEHOLDER IMAGES: the real SIUO images were absent, so models saw "
                                      "generated placeholder pictures; these figures are NOT SIUO results."))
    blocks.append(("text", "SIUO report", f"{len(runs)} model(s). Rates are percent of items (majority of 3 "
                                          "responses per item), with seeded bootstrap 95% CIs."))
    blocks.append(("table", "Overall", (OVERALL_HEADER, overall_rows(runs))))
    blocks.append(("table", "Paper leaderboard (the paper's numbers: 269 items, GPT-4V judge; not comparable 1:1)",
                   (["model", "Safe %", "Effective %", "Safe & Effective %", "MCQA accuracy %"],
                    [[n, *[f"{v:.2f}" for v in values]] for n, *values in PAPER_ROWS])))
    for run in runs:
        blocks.append(("table", f"Per domain: {run.name}", (DOMAIN_HEADER, domain_rows(run))))
    for key, label in (*GEN_COLUMNS, ("accuracy", "MCQA accuracy")):
        blocks.append(("plot", f"{label} by domain", (key, label)))
    for run in runs:
        rows = ablation_rows(run)
        if rows:
            blocks.append(("table", f"Image-blind ablation: {run.name} (with image minus without; the cross-modal gap)",
                           (ABLATION_HEADER, rows)))
    judges = [[name, block.get("backend"), block.get("model"), block.get("prompt_version"), block.get("temperature"),
               "text-only" if block.get("text_only") else "with image", "APPROXIMATE" if block.get("approximate") else ""]
              for name, block in judge_blocks(runs)]
    if judges:
        blocks.append(("table", "Judge", (["run", "backend", "model", "prompt", "temperature", "input", "note"], judges)))
    if validation:
        blocks.append(("table", "Judge validation (MCQA options as labelled responses)",
                       (["judge", "variant", "balanced accuracy", "Cohen's κ", "n"],
                        [[validation.get("judge", {}).get("model"), variant, _fmt(validation[variant].get("balanced_accuracy")),
                          _fmt(validation[variant].get("kappa")), validation[variant].get("n")]
                         for variant in ("with_reference", "reference_blind") if variant in validation])))
    examples = [[run.name, row["question_id"], row["response"][:400], f"safe={row['safe']}, effective={row['effective']}"]
                for run in runs for row in failing_examples(run)]
    if examples:
        blocks.append(("examples", "Failing examples", (["model", "question_id", "response", "verdict"], examples)))
    return blocks


def render_markdown(blocks) -> str:
    out = []
    for kind, title, payload in blocks:
        if kind == "warning":
            out.append(f"**{payload}**")
        elif kind == "text":
            out.append(f"# {title}\n\n{payload}")
        elif kind in ("table", "examples"):
            prefix = f"> {CONTENT_WARNING}\n\n" if kind == "examples" else ""
            out.append(f"## {title}\n\n{prefix}{_md_table(*payload)}")
        elif kind == "plot":
            out.append(f"## {title}\n\n![{title}](plot_{payload[0]}.png)")
    return "\n\n".join(out) + "\n"


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
            parts.append(f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">')
        elif kind == "examples":
            parts.append(f"<h2>{html.escape(title)}</h2><details><summary>{html.escape(CONTENT_WARNING)} "
                         f"Click to show.</summary>{_html_table(*payload)}</details>")
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;"
             "font-size:13px;text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%}"
             ".warning{background:#fff3cd;border:2px solid #d39e00;padding:.8em;font-weight:bold}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>SIUO report</title><style>{style}</style>"
            f"</head><body>{''.join(parts)}</body></html>\n")


def write_report(runs: list[RunResult], out: str | Path, *, validation: dict | None = None,
                 placeholder_images: bool = False) -> Path:
    """Write report.md (+ plot PNGs) and a self-contained report.html into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    blocks = sections(runs, validation, placeholder_images)
    plots = {payload[0]: plot_png(runs, *payload) for kind, _, payload in blocks if kind == "plot"}
    for key, png in plots.items():
        (out / f"plot_{key}.png").write_bytes(png)
    (out / "report.md").write_text(render_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(render_html(blocks, plots), encoding="utf-8")
    return out
