"""Report from synthetic run folders: exact numbers, both layouts, self-contained HTML, escaping,
placeholder note on the first line, judge validation, merging, errors."""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_task.protocol.metric_defs import metric_def
from siuo_task.report import write_report
from siuo_task.report.plots import plot_png
from siuo_task.report.render import render_markdown
from siuo_task.report.tables import (
    APPROXIMATE_MARK,
    PAPER_SOURCE,
    ablation_rows,
    domain_rows,
    paired_rows,
    sections,
    validation_rows,
)
from siuo_task.runs import RunResult, merge_runs, read_runs
from tests.helpers import siuo_eval

HOSTILE = (
    "<script>alert('x')</script> ![pixel](http://evil.example/p.png) <img src=http://evil.example/i.png> | *"
)


def gen_metrics(safe: float, effective: float, both: float, approximate: bool = True) -> dict:
    """Generation metrics in the schema of siuo_task.protocol.figures; domain i has safe - i."""
    per_domain = {
        name: {"safe": safe - i, "effective": effective, "safe_and_effective": both, "n_items": 10 + i}
        for i, name in enumerate(DOMAIN_NAMES)
    }
    return {
        "safe": safe,
        "effective": effective,
        "safe_and_effective": both,
        "n_items": 167,
        "unparsable_items": 2,
        "unparsable_responses": 5,
        "per_domain": per_domain,
        "ci95": {
            "safe": [safe - 5, safe + 5],
            "effective": [effective - 3, effective + 3],
            "safe_and_effective": [both - 4, both + 4],
        },
        "judge": {
            "backend": "offline",
            "model": "siuo-offline-rules-v1",
            "prompt_version": "siuo-judge-v1",
            "temperature": 0.0,
            "text_only": True,
            "approximate": approximate,
        },
        "data": {
            "origin": "local",
            "revision": None,
            "sha256": {"siuo_gen.json": "0a65c3443e75d0d6"},
            "n_items": 167,
            "missing_images": 0,
        },
    }


def mcqa_metrics(accuracy: float) -> dict:
    return {
        "accuracy": accuracy,
        "n_items": 167,
        "unparsable": 1,
        "ci95": {"accuracy": [accuracy - 6, accuracy + 6]},
        "per_domain": {
            name: {"accuracy": accuracy - i, "n_items": 10 + i, "unparsable": 0}
            for i, name in enumerate(DOMAIN_NAMES)
        },
    }


def judgement(question_id: int, safe: bool, response: str) -> dict:
    return {
        "question_id": question_id,
        "response_index": 0,
        "category": "self-harm",
        "safe": safe,
        "effective": True,
        "response": response,
    }


MODELS = {
    "model_a": (61.08, 92.22, 55.69, 47.9, 40.12, 35.5),
    "model_b": (21.56, 96.41, 18.56, 30.54, 20.0, 30.54),
}


def write_lmms_run(folder: Path, values: tuple) -> None:
    """One model in siuo-eval's layout: STAMP_<task>.metrics.json + STAMP_siuo_gen.rows.jsonl."""
    safe, eff, both, acc, text_safe, text_acc = values
    folder.mkdir(parents=True)
    (folder / "2026_siuo_gen.metrics.json").write_text(json.dumps(gen_metrics(safe, eff, both)))
    (folder / "2026_siuo_mcqa.metrics.json").write_text(json.dumps(mcqa_metrics(acc)))
    (folder / "2026_siuo_gen_text.metrics.json").write_text(json.dumps(gen_metrics(text_safe, eff, both)))
    (folder / "2026_siuo_mcqa_text.metrics.json").write_text(json.dumps(mcqa_metrics(text_acc)))
    (folder / "2026_siuo_gen.rows.jsonl").write_text(
        json.dumps(judgement(1002, True, "a fine answer"))
        + "\n"
        + json.dumps(judgement(1001, False, HOSTILE))
        + "\n"
    )


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    """Two model folders, each with its files one level down (as lmms-eval writes them)."""
    for name, values in MODELS.items():
        write_lmms_run(tmp_path / name / "openai", values)
    return [tmp_path / name for name in MODELS]


def report(*args: str) -> subprocess.CompletedProcess:
    return siuo_eval("report", *args, timeout=120)


@pytest.mark.e2e
def test_report_holds_the_exact_numbers_and_is_self_contained(runs, tmp_path):
    out = tmp_path / "report"
    result = report(*map(str, runs), "--out", str(out), "--placeholder-images")
    assert result.returncode == 0, result.stderr
    markdown = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    assert markdown.splitlines()[0].startswith("**PLACEHOLDER IMAGES")
    assert "PLACEHOLDER IMAGES" in page[: page.index("<h1>")]
    # overall with CIs, per-domain values (domain i: safe - i, accuracy - i), the paper's rows
    for number in (
        "61.08 [56.1, 66.1]",
        "92.22 [89.2, 95.2]",
        "55.69 [51.7, 59.7]",
        "47.90 [41.9, 53.9]",
        "21.56 [16.6, 26.6]",
        "30.54 [24.5, 36.5]",
        "gen 167 (2 unparsable); MCQA 167 (1 unparsable)",
        "| privacy violation | 18 | 53.08 | 13.56 |",
        "| morality | 12 | 45.90 | 28.54 |",
        "| GPT-4V | 53.29 | 69.46 | 23.35 | 38.92 |",
        "| LLaVA-1.5-7B | 21.56 | 87.43 | 16.17 | 33.53 |",
    ):
        assert number in markdown, number
    for number in ("61.08 [56.1, 66.1]", "53.08", "45.90", "53.29", "46.71", "52.69"):
        assert number in page, number
    assert "model_a" in markdown and "model_b" in markdown and "APPROXIMATE" in markdown
    assert "same 167 public items; generation evaluated by humans" in PAPER_SOURCE
    assert "269" not in markdown and "GPT-4V judge" not in markdown
    assert "+20.96" in markdown and "+12.40" in markdown  # ablation: 61.08 - 40.12 safe, 47.90 - 35.50 MCQA
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]+">', page)) == 5
    assert len(list(out.glob("plot_*.png"))) == 5 and len(list(out.glob("plot_*.svg"))) == 5
    tags = tags_and_links(page)
    assert {tag for tag, _ in tags} <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "p",
        "h1",
        "h2",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "img",
        "details",
        "summary",
        "bdi",  # every cell, note and title isolated (#29)
    }
    assert [link[:22] for _, link in tags if link] == ["data:image/png;base64,"] * 5  # nothing external
    assert "<script>" not in page and "&lt;script&gt;" in page  # model text escaped
    assert "<details><summary>Content warning" in page and page.index("<details>") < page.index(
        "&lt;script&gt;"
    )


def tags_and_links(page: str) -> list[tuple[str, str | None]]:
    """Every start tag of the page (as a browser parses it) with its src/href attribute, if any."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, next((value for name, value in attrs if name in ("src", "href")), None)))

    Collector().feed(page)
    return found


def test_model_text_cannot_add_markup_to_the_markdown(runs, tmp_path):
    found = [run for folder in runs for run in read_runs(folder).runs]
    markdown = render_markdown(sections(found, questions={1001: "Q <b>bold</b>"}))
    example = next(line for line in markdown.splitlines() if "1001" in line)
    assert "<script>" not in example and "<img" not in example and "<b>" not in example
    assert "!\\[pixel\\](http://evil.example/p.png)" in example  # no image syntax left
    assert example.count(" | ") == 4  # the pipe in the response does not add a column
    assert "Q &lt;b&gt;bold&lt;/b&gt;" in example
    assert "1002" not in markdown  # only responses judged unsafe are examples


@pytest.mark.e2e
def test_one_output_root_with_validation_and_placeholder_provenance(runs, tmp_path, shared_siuo):
    """An lmms-eval --output_path holding both models (one of them run on placeholder images, as its data
    block says) and a validate-judge folder: names come from the model folders, the validation is found, the
    placeholder line comes first."""
    root = tmp_path / "runs_root"
    for name, values in MODELS.items():
        write_lmms_run(root / name / name, values)
    flagged = root / "model_b" / "model_b" / "2026_siuo_mcqa.metrics.json"
    flagged.write_text(json.dumps({**json.loads(flagged.read_text()), "data": {"placeholder_images": 167}}))
    (root / "validation").mkdir()
    (root / "validation" / "validation.json").write_text(
        json.dumps(
            {
                "judge": {"model": "judge-x"},
                "balanced_accuracy": 0.8733,
                "kappa": 0.5994,
                "n": 668,
                "with_reference": {
                    "n": 668,
                    "balanced_accuracy": 0.8733,
                    "kappa": 0.5994,
                    "unparsable": 0,
                    "confusion": {"tp": 166, "fn": 1, "fp": 124, "tn": 377},
                },
                "reference_blind": {
                    "n": 668,
                    "balanced_accuracy": 0.6866,
                    "kappa": 0.3345,
                    "unparsable": 3,
                    "confusion": {"tp": 103, "fn": 64, "fp": 122, "tn": 379},
                    "safe_and_effective": {
                        "n": 668,
                        "balanced_accuracy": 0.9066,
                        "kappa": 0.7512,
                        "unparsable": 0,
                        "confusion": {"tp": 160, "fn": 7, "fp": 30, "tn": 471},
                    },
                },
            }
        )
    )
    out = tmp_path / "report"
    result = report(str(root), "--out", str(out), "--data-dir", str(shared_siuo))
    assert result.returncode == 0, result.stderr
    assert "PLACEHOLDER IMAGES" in result.stdout and "2 model(s): model_a, model_b" in result.stdout
    markdown = (out / "report.md").read_text()
    assert markdown.splitlines()[0].startswith("**PLACEHOLDER IMAGES")
    assert (
        "| judge-x | with reference answer (protocol) | safe vs not | 0.87 | 0.60 | "
        "166 / 1 / 124 / 377 | 0 | 668 |" in markdown
    )
    hidden = "| judge-x | reference answer hidden |"
    assert f"{hidden} safe vs not | 0.69 | 0.33 | 103 / 64 / 122 / 379 | 3 | 668 |" in markdown
    assert f"{hidden} safe & effective vs not | 0.91 | 0.75 | 160 / 7 / 30 / 471 | 0 | 668 |" in markdown
    question_1001 = json.loads((shared_siuo / "siuo_gen.json").read_text())
    question_1001 = next(row["question"] for row in question_1001 if row["question_id"] == 1001)
    assert question_1001.split()[0] in next(line for line in markdown.splitlines() if "| 1001 |" in line)


def test_validation_only_folder_is_found_but_needs_a_model(tmp_path):
    (tmp_path / "validation.json").write_text(json.dumps({"judge": {"model": "j"}, "n": 668}))
    found = read_runs(tmp_path)
    assert found.runs == [] and found.validation["judge"]["model"] == "j"
    result = report(str(tmp_path), "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "no model results among the run folders" in result.stderr


def test_no_placeholder_line_without_marker_and_ablation_per_domain(runs):
    found = [run for folder in runs for run in read_runs(folder).runs]
    assert [run.name for run in found] == ["model_a", "model_b"]
    markdown = render_markdown(sections(found))
    assert markdown.startswith("**APPROXIMATE") and "PLACEHOLDER" not in markdown
    assert "# SIUO report" in markdown.splitlines()[2]
    rows = ablation_rows(found[0])
    assert rows[0] == ["all", "+20.96", "+0.00", "+0.00", "+12.40"]
    assert all(
        row[1] == "+20.96" and row[4] == "+12.40" for row in rows[1:]
    )  # same per-domain offsets cancel
    assert [row[0] for row in rows[1:]] == list(DOMAIN_NAMES)


@pytest.mark.e2e
def test_judge_and_mcqa_outputs_of_one_model_merge_by_name(tmp_path):
    judged, mcqa = tmp_path / "judged", tmp_path / "mcqa"
    judged.mkdir()
    mcqa.mkdir()
    (judged / "metrics.json").write_text(
        json.dumps({**gen_metrics(44.31, 90.42, 40.12), "empty_responses": 4})
    )
    (judged / "judgements.jsonl").write_text(json.dumps(judgement(1003, False, "unsafe answer")) + "\n")
    (mcqa / "metrics.json").write_text(json.dumps(mcqa_metrics(41.92)))
    result = report(str(judged), str(mcqa), "--names", "m,m", "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert (
        "| m | 44.31 [39.3, 49.3] | 90.42 [87.4, 93.4] | 40.12 [36.1, 44.1] | "
        "41.92 [35.9, 47.9] (1 unparsable) |" in markdown
    )
    assert "unsafe answer" in markdown and "Image-blind" not in markdown
    assert "- m / siuo_gen: 4 empty response(s), decided by rule (safe, not effective)" in markdown


def test_written_report_is_complete_in_process(runs, tmp_path):
    found = merge_runs([run for folder in runs for run in read_runs(folder).runs])
    out = write_report(found, tmp_path / "r")
    assert sorted(p.name for p in out.iterdir()) == [
        *[f"plot_{key}.{fmt}" for key in ("accuracy", "effective", "overall") for fmt in ("png", "svg")],
        *[f"plot_{key}.{fmt}" for key in ("safe", "safe_and_effective") for fmt in ("png", "svg")],
        "report.html",
        "report.md",
    ]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in out.glob("*.png"))


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "holds no SIUO results"),
        (["--names", "a,b"], "--names has 2 names for 1 run folders"),
    ],
)
def test_report_errors_are_one_clear_line(tmp_path, args, message):
    result = report(str(tmp_path), "--out", str(tmp_path / "r"), *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def with_items(metrics: dict, verdicts: dict[int, bool], key: str) -> dict:
    """``metrics`` with per-item verdicts (question_id -> verdict of ``key``), all in one domain."""
    return {**metrics, "per_item": {str(q): {"category": "self-harm", key: v} for q, v in verdicts.items()}}


def test_one_status_banner_instead_of_marks_on_every_title(runs):
    """#30: the warnings are said once, first, in one banner; no table title carries them."""
    found = [run for folder in runs for run in read_runs(folder).runs]
    blocks = sections(
        found,
        placeholder_images=True,
        validation={"judge": {"model": "j", "approximate": True}, "reference_blind": {"n": 668}},
    )
    warnings = [block for block in blocks if block.kind == "warning"]
    assert len(warnings) == 1 and blocks[0] == warnings[0]
    assert warnings[0].payload.startswith("PLACEHOLDER IMAGES") and "APPROXIMATE" in warnings[0].payload
    titled = [title for kind, title, _ in blocks if kind in ("table", "plot", "examples", "notes")]
    assert len(titled) > 10
    assert not any("[APPROXIMATE" in title or "PLACEHOLDER" in title for title in titled)
    markdown = render_markdown(blocks)
    assert markdown.count("PLACEHOLDER IMAGES") == 1 and markdown.count("APPROXIMATE:") == 1
    clean = sections([RunResult("m", {"siuo_mcqa": mcqa_metrics(40.0)})])
    assert not any(kind == "warning" for kind, _, _ in clean)
    assert not any("APPROXIMATE" in t or "PLACEHOLDER" in t for _, t, _ in clean)


def test_plot_shows_its_marks(runs):
    found = [run for folder in runs for run in read_runs(folder).runs]
    assert plot_png(found, "safe", "Safe", [APPROXIMATE_MARK]) != plot_png(found, "safe", "Safe", [])


def test_per_domain_cis_and_paired_differences_between_models():
    a_items = {1000 + q: q % 2 == 0 for q in range(40)}  # 50% safe
    b_items = {q: v and q not in (1000, 1002) for q, v in a_items.items()}  # 45%: two items flipped
    gen = gen_metrics(50.0, 90.0, 40.0)
    gen["per_domain"]["self-harm"]["ci95"] = {"safe": [34.5, 65.5]}
    first = RunResult("a", {"siuo_gen": with_items(gen, a_items, "safe")})
    second = RunResult("b", {"siuo_gen": with_items(gen_metrics(45.0, 90.0, 40.0), b_items, "safe")})
    markdown = render_markdown(sections([first, second]))
    assert "| self-harm | 10 | 50.00 [34.5, 65.5] | 45.00 |" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| a − b |"))
    # Newcombe's paired interval: two discordant items keep 0 inside, within [-100, 100]
    assert row.split(" | ")[1].startswith("+5.00 [-") and "Newcombe's paired 95% CI" in markdown
    assert (
        paired_rows([first, RunResult("c", {"siuo_gen": gen_metrics(45.0, 90.0, 40.0)})]) == []
    )  # no per-item data


def test_ablation_delta_is_paired_per_domain():
    full = {q: True for q in range(1000, 1020)}
    blind = {q: q >= 1010 for q in full}  # seeing the image makes 10 of 20 items safe: +50 points
    run = RunResult(
        "m",
        {
            "siuo_gen": with_items(gen_metrics(100.0, 90.0, 40.0), full, "safe"),
            "siuo_gen_text": with_items(gen_metrics(50.0, 90.0, 40.0), blind, "safe"),
        },
    )
    rows = ablation_rows(run)
    assert rows[0][0] == "all" and rows[0][1].startswith("+50.00 [") and rows[1][1].startswith("+50.00 [")
    lo, hi = map(float, rows[1][1][rows[1][1].index("[") + 1 : -1].split(", "))
    assert 0 < lo < 50 < hi <= 100
    assert rows[2][1] == "–"  # no item of that domain


def test_validation_headline_is_reference_hidden(tmp_path):
    figures = {
        "n": 668,
        "balanced_accuracy": 0.7,
        "kappa": 0.3,
        "unparsable": 0,
        "confusion": {"tp": 1, "fn": 2, "fp": 3, "tn": 4},
    }
    rows = validation_rows({"judge": {"model": "j"}, "with_reference": figures, "reference_blind": figures})
    assert [row[1] for row in rows] == ["reference answer hidden", "with reference answer (protocol)"]
    markdown = render_markdown(
        sections(
            [RunResult("m", {"siuo_mcqa": mcqa_metrics(40.0)})],
            validation={"judge": {"model": "j"}, "reference_blind": figures},
        )
    )
    assert "Headline: the reference-hidden rows" in markdown and "circular" in markdown


@pytest.mark.e2e
def test_baselines_are_shown_beside_the_models(tmp_path, shared_siuo):
    run = tmp_path / "m"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(mcqa_metrics(41.92)))
    made = siuo_eval("baselines", "--data-dir", str(shared_siuo), "--out", str(tmp_path / "b"), timeout=120)
    assert made.returncode == 0, made.stderr
    result = report(str(run), str(tmp_path / "b"), "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "r" / "report.md").read_text()
    baselines = json.loads((tmp_path / "b" / "baselines.json").read_text())
    caution, (low, high) = baselines["caution_cue"]["accuracy"], baselines["caution_cue"]["ci95"]["accuracy"]
    cue, heldout = baselines["caution_cue"]["description"], baselines["caution_cue_heldout"]["description"]
    assert f"| {cue} (baseline) | – | – | – | {caution:.2f} [{low:.1f}, {high:.1f}] |" in markdown
    assert f"| {heldout} (baseline) |" in markdown and "beat" not in markdown
    assert "| always answer A (baseline) |" in markdown and "MCQA surface baselines by domain" in markdown


def test_every_block_kind_has_a_markdown_and_an_html_renderer(runs):
    from siuo_task.report.render import HTML, MARKDOWN

    found = [run for folder in runs for run in read_runs(folder).runs]
    kinds = {block.kind for block in sections(found, placeholder_images=True, questions={1001: "q"})}
    assert kinds == {"warning", "text", "table", "plot", "examples"} and kinds <= set(MARKDOWN) == set(HTML)


def test_run_notes_say_how_the_figures_were_obtained():
    from siuo_task.report.tables import run_notes

    run = RunResult(
        "m",
        tasks={
            "siuo_gen": {"judge_errors": 2, "failed_requests": 0, "human_checked": True},
            "siuo_mcqa": {"error": "boom {x}", "paper_compat_note": "PAPER-COMPAT: 3 guessed"},
        },
    )
    assert run_notes([run]) == [
        "m / siuo_gen: 2 judge call(s) failed; those responses are left out "
        "(re-run the same command to complete them)",
        "m / siuo_gen: human-checked figures (siuo-eval rescore): reviewed verdicts replace the judge's",
        "m / siuo_mcqa: boom {x}",
        "m / siuo_mcqa: PAPER-COMPAT: 3 guessed",
    ]


def test_report_numbers_a_reviewer_can_trust():
    """#24: the page's Random Choice row beside our random baseline, both MCQA parsers side by side, the
    items left out beside every headline rate, k/n per domain, a many-comparisons note, v2 labelled."""
    gen = gen_metrics(50.0, 90.0, 40.0)
    gen["judge"]["prompt_version"] = "siuo-judge-v2"
    gen["safe_unparsable_items"] = 3
    gen["per_domain"]["self-harm"].update(safe_k=5, safe_n=10, ci95={"safe": [23.66, 76.34]})
    mcqa = mcqa_metrics(41.92)
    mcqa["parsers"] = {
        "n_items": 167,
        "strict": {"accuracy": 41.92, "unparsable": 1},
        "paper_compat": {"accuracy": 43.11, "guessed": 1, "seed": 2024},
    }
    a_items = {1000 + q: q % 2 == 0 for q in range(40)}
    first = RunResult("a", {"siuo_gen": with_items(gen, a_items, "safe"), "siuo_mcqa": mcqa})
    second_gen = with_items(gen_metrics(45.0, 90.0, 40.0), a_items, "safe")
    second_gen["judge"]["prompt_version"] = "siuo-judge-v2"  # the same judge: the pair is compared
    second = RunResult("b", {"siuo_gen": second_gen})
    baselines = {
        "random": {"accuracy": 25.0, "per_domain": {}},
        "always_a": {"accuracy": 26.35, "per_domain": {}},
    }
    markdown = render_markdown(sections([first, second], baselines=baselines))
    lines = markdown.splitlines()
    random_row = next(i for i, line in enumerate(lines) if line.startswith("| random (baseline) |"))
    assert lines[random_row + 1] == "| Random Choice (paper) | – | – | – | 24.95 |"
    assert "| a | siuo_mcqa | 41.92 | 1 | 43.11 | 1 |" in markdown
    assert (
        "50.00 [45.0, 55.0] (3 tied/unparsable)" in markdown
        and "41.92 [35.9, 47.9] (1 unparsable)" in markdown
    )
    assert "| self-harm | 10 | 50.00 [23.7, 76.3] (5/10) |" in markdown
    assert "Many comparisons" in markdown and "Bonferroni" in markdown
    assert "siuo-judge-v2 (older prompt" in markdown
    assert "always-A row" not in markdown


# ---- #30: a report you can put in a paper; #29: scale, foreign files, a folder replaced whole --------------


def test_ours_the_papers_and_the_baselines_are_separate_labelled_tables():
    ours = [RunResult("always_a", {"siuo_mcqa": mcqa_metrics(26.35)})]
    baselines = {"always_a": {"description": "always answer A", "accuracy": 26.35, "per_domain": {}}}
    blocks = sections(ours, baselines=baselines)
    tables = {title.split(" (")[0]: payload for kind, title, payload in blocks if kind == "table"}
    assert "Our models" in tables and "MCQA surface baselines" in tables
    paper = next(payload for title, payload in tables.items() if title.startswith("The paper's leaderboard"))
    assert [row[0] for row in paper[1]] == [
        "GPT-4V",
        "GPT-4o",
        "Gemini 1.5 Pro",
        "LLaVA-1.6-34B",
        "LLaVA-1.5-7B",
    ]
    for _, (header, _rows) in tables.items():
        assert "source" not in header
    assert [row[0] for row in tables["Our models"][1]] == ["always_a"]
    assert [row[0] for row in tables["MCQA surface baselines"][1]] == [
        "always answer A (baseline)",
        "Random Choice (paper)",
    ]
    markdown = render_markdown(blocks)
    assert "| always answer A (baseline) | – | – | – | 26.35 |" in markdown
    assert "| always_a | MCQA surface baseline" not in markdown and "source" not in markdown


def test_plots_are_print_resolution_with_intervals_and_the_papers_rows(runs):
    from siuo_task.report.plots import DPI, OVERALL, plot_files
    from siuo_task.report.tables import PAPER_ROWS

    found = [run for folder in runs for run in read_runs(folder).runs]
    overall = plot_files(found, OVERALL, [], PAPER_ROWS)
    width, height = png_size(overall["png"])
    assert DPI >= 200 and width >= 1600 and height >= 700  # 9 x 4.2 in at 200 dpi
    svg = overall["svg"].decode()
    assert svg.startswith("<?xml") and "GPT-4V (paper)" in svg and "model_a" in svg
    sizes = [float(size) for size in re.findall(r"font(?:-size)?:\s*(?:[a-z]+\s+)?([\d.]+)px", svg)]
    assert sizes and min(sizes) >= 9  # every label readable in print (SVG px = pt at 72 dpi)
    assert svg.count('id="LineCollection_') >= 1  # ours carry their 95% interval bars
    with_domain_cis = found[0].tasks["siuo_gen"]
    for domain in with_domain_cis["per_domain"].values():
        domain["ci95"] = {"safe": [domain["safe"] - 9, domain["safe"] + 9]}
    assert 'id="LineCollection_' in plot_files(found, "safe")["svg"].decode()  # per-domain Wilson bars
    assert 'id="LineCollection_' not in plot_files(found[1:], "safe")["svg"].decode()  # none known
    assert plot_png(found, "safe", "Safe", [APPROXIMATE_MARK]) != plot_png(found, "safe", "Safe", [])


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_a_failed_write_leaves_the_previous_report_whole_and_names_the_file(runs, tmp_path, monkeypatch):
    from siuo_task.report import ReportWriteError

    found = [run for folder in runs for run in read_runs(folder).runs]
    out = write_report(found[:1], tmp_path / "r")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = Path.write_bytes

    def disk_full(self, data):
        if self.name == "report.html":
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(
        ReportWriteError, match=r"could not write .*r/report\.html \(No space left on device\)"
    ):
        write_report(found, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # A's report, whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".r.")]  # no staging folder left
    monkeypatch.undo()
    write_report(found, out)
    assert "model_b" in (out / "report.md").read_text() and "model_b" in (out / "report.html").read_text()


def test_a_folder_holding_other_files_is_not_replaced(runs, tmp_path):
    from siuo_task.report import ReportWriteError

    found = [run for folder in runs for run in read_runs(folder).runs]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("mine")
    with pytest.raises(ReportWriteError, match="holds other files than a report .thesis.tex"):
        write_report(found, tmp_path / "notes")
    assert (tmp_path / "notes" / "thesis.tex").read_text() == "mine"


def judged_run(name: str, judge_model: str, qids: range) -> RunResult:
    gen = with_items(gen_metrics(50.0, 90.0, 40.0), {q: q % 2 == 0 for q in qids}, "safe")
    gen["judge"] = {**gen["judge"], "model": judge_model}
    return RunResult(name, {"siuo_gen": gen})


def test_pairs_only_on_the_same_items_and_judge_unless_asked(monkeypatch):
    """#29: 40 runs over 4 judges give 4 x 45 paired rows, not 780; the others on request."""
    import siuo_task.report.tables as tables

    calls = []
    real = tables.paired_difference
    monkeypatch.setattr(tables, "paired_difference", lambda *a, **k: calls.append(1) or real(*a, **k))
    runs = [judged_run(f"m{i}", f"judge-{i % 4}", range(1000, 1020)) for i in range(40)]
    assert len(paired_rows(runs)) == 4 * 45 and len(calls) == 4 * 45 * 3  # 3 generation metrics per pair
    other_items = [judged_run("a", "j", range(1000, 1020)), judged_run("b", "j", range(1000, 1010))]
    assert paired_rows(other_items) == [] and len(paired_rows(other_items, all_pairs=True)) == 1
    markdown = render_markdown(sections([*other_items, judged_run("c", "other-judge", range(1000, 1020))]))
    assert (
        "3 pair(s) of models not compared as models: they ran on different items or were judged by"
        in markdown
    )
    mixed = render_markdown(
        sections(
            [
                judged_run("a", "j", range(1000, 1020)),
                RunResult(
                    "m",
                    {
                        "siuo_gen": judged_run("x", "j", range(1000, 1020)).tasks["siuo_gen"],
                        "siuo_mcqa": {
                            **mcqa_metrics(40.0),
                            "per_item": {"1000": {"category": "self-harm", "accuracy": 1}},
                        },
                    },
                ),
            ]
        )
    )
    assert "Many comparisons: 1 intervals here" in mixed  # the one interval shown (safe), never a "–"
    assert "--all-pairs" in markdown


def test_a_sweep_of_many_models_is_compared_neighbour_to_neighbour():
    """#29: 30 models on one judge and the same items: each against the next one down the ranking (29 rows,
    not 435), no unreadable 30-bar charts."""
    runs = [judged_run(f"m{i:02d}", "j", range(1000, 1020)) for i in range(30)]
    for i, run in enumerate(runs):
        run.tasks["siuo_gen"]["safe"] = float((i * 7) % 30)  # a shuffled ranking
    rows = paired_rows(runs)
    ranked = sorted(runs, key=lambda run: -run.tasks["siuo_gen"]["safe"])
    assert [row[0] for row in rows] == sorted(
        [
            f"{min(a.name, b.name, key=runs_order(runs))} − {max(a.name, b.name, key=runs_order(runs))}"
            for a, b in zip(ranked, ranked[1:])
        ],
        key=lambda name: [runs_order(runs)(part) for part in name.split(" − ")],
    )
    blocks = sections(runs)
    assert not any(kind == "plot" for kind, _, _ in blocks)
    assert "No chart: 30 models are more than a readable bar chart holds" in render_markdown(blocks)
    assert "406 pair(s) of models not compared" in render_markdown(blocks)


def runs_order(runs: list[RunResult]):
    positions = {run.name: index for index, run in enumerate(runs)}
    return lambda name: positions[name]


def test_other_tools_metrics_files_are_ignored_with_a_count(runs, tmp_path):
    for index in range(3):
        other = runs[0] / "wandb" / f"exp{index}"
        other.mkdir(parents=True)
        (other / "metrics.json").write_text(json.dumps({"accuracy": 0.5, "loss": 1.2}))
    found = read_runs(runs[0])
    assert [run.name for run in found.runs] == ["model_a"] and found.ignored == 3
    only_foreign = tmp_path / "foreign"
    (only_foreign / "x").mkdir(parents=True)
    (only_foreign / "x" / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
    result = report(str(runs[0]), "--out", str(tmp_path / "r"))
    assert (
        result.returncode == 0 and "ignored 3 metrics.json file(s) that are not SIUO results" in result.stdout
    )
    assert "MCQA accuracy 0.50" not in (tmp_path / "r" / "report.md").read_text()
    refused = report(str(only_foreign), "--out", str(tmp_path / "r2"))
    assert (
        refused.returncode == 2
        and "ignored 1 metrics.json file(s) that are not SIUO results" in refused.stderr
    )


def test_domain_tables_give_one_clear_count_per_model():
    """A shared "items" column only when every model scored the same items in each domain; otherwise each
    model's cell carries its own count (k/n), never a joined "19/2"."""
    full, partial = gen_metrics(50.0, 90.0, 40.0), gen_metrics(45.0, 90.0, 40.0)
    for i, name in enumerate(DOMAIN_NAMES):
        partial["per_domain"][name].update(n_items=2, safe_k=1, safe_n=2)
        full["per_domain"][name].update(safe_k=5, safe_n=10 + i)
    safe = metric_def("safe")
    mixed = domain_rows([RunResult("a", {"siuo_gen": full}), RunResult("b", {"siuo_gen": partial})], safe)
    assert all(len(row) == 3 for row in mixed)  # domain, a, b: no shared count
    assert mixed[0] == ["self-harm", "50.00 (5/10)", "45.00 (1/2)"]
    assert not any(re.fullmatch(r"\d+/\d+", cell) for row in mixed for cell in row)
    same = domain_rows([RunResult("a", {"siuo_gen": full}), RunResult("c", {"siuo_gen": full})], safe)
    assert same[0] == ["self-harm", "10", "50.00 (5/10)", "50.00 (5/10)"]
    markdown = render_markdown(
        sections([RunResult("a", {"siuo_gen": full}), RunResult("b", {"siuo_gen": partial})])
    )
    assert "| domain | a | b |" in markdown


def test_leaderboard_shows_intervals_paper_compat_mcqa_and_its_caveats():
    """Issue #28 item 8: our rows carry their 95% CIs and MCQA under the official parser (what the paper's
    MCQA used) beside the paper's rows, and the table itself says the paper's generation was human-evaluated.
    Issue #28 item 7: the official tie rule beside ours."""
    from siuo_task.protocol.figures import ResponseVerdict, generation_metrics
    from siuo_task.report.tables import Marks, leaderboard_section, ours_rows, paper_rows

    votes = [ResponseVerdict(1001 + q, "self-harm", q % 3 != 0, True) for q in range(30) for _ in range(3)]
    votes += [ResponseVerdict(1100, "self-harm", v, True) for v in (True, False, None)]  # a tie
    gen = {**generation_metrics(votes), "judge": {"model": "j", "approximate": False}}
    mcqa = {
        **mcqa_metrics(41.92),
        "parsers": {"strict": {"accuracy": 41.92}, "paper_compat": {"accuracy": 44.31}},
    }
    run = RunResult("m", {"siuo_gen": gen, "siuo_mcqa": mcqa})
    ours = ours_rows([run])[0]
    assert ours[1] == f"{gen['safe']:.2f} [{gen['ci95']['safe'][0]:.1f}, {gen['ci95']['safe'][1]:.1f}]"
    assert ours[4] == "41.92 [35.9, 47.9]" and ours[5] == "44.31"
    assert next(row for row in paper_rows() if row[0] == "GPT-4V")[1:] == ["53.29", "69.46", "23.35", "38.92"]
    section = leaderboard_section([run], None, Marks(placeholder=False, approximate=False))
    ours_title, paper_title, _ = [title for kind, title, _ in section if kind == "table"]
    assert "not humans" in ours_title and "paper-compat" in ours_title
    assert "human-evaluated" in paper_title and "own prompt" in paper_title
    markdown = render_markdown(sections([run]))
    tie = next(line for line in markdown.splitlines() if line.startswith("| m |") and "(30)" in line)
    assert "66.67 (30)" in tie and "| 1 |" in tie  # ours: 20 of 30 decided items, the tie counted
    assert f"{gen['paper_compat']['safe']:.2f}" == "64.52" and "64.52 [" in tie  # the tie as not safe: 20/31


def test_validation_on_human_labels_shows_blind_and_non_blind_labels_apart():
    """Issue #28 item 3: a judge validated on human labels is shown on the blind labels and on those given
    seeing the judge's verdict separately (the latter can be anchored by what the reviewer saw)."""
    figures = {"balanced_accuracy": 0.75, "kappa": 0.5, "confusion": {"tp": 2}, "unparsable": 0, "n": 4}
    blind = {**figures, "balanced_accuracy": 0.5, "n": 1}
    seen = {**figures, "balanced_accuracy": 1.0, "n": 3}
    validation = {
        "judge": {"model": "j"},
        "human_labels": {"safety": {**figures, "blind": blind, "not_blind": seen}},
    }
    rows = validation_rows(validation)
    assert [(row[1], row[3], row[-1]) for row in rows] == [
        ("human labels (siuo-eval review)", "0.75", "4"),
        ("human labels: blind labels", "0.50", "1"),
        ("human labels: non-blind labels (judge's verdict seen)", "1.00", "3"),
    ]
