"""Report blocks -> Markdown and a self-contained HTML page (plots embedded as base64 PNG): one function per
block kind and format. Model responses and dataset text are untrusted: escaped in HTML and in Markdown. In
both, control characters, ESC sequences and bidi controls are made visible and inert (``safe_text``); in HTML
every cell, note and warning is also isolated in ``<bdi>``, so right-to-left text in a name cannot reorder
what stands beside it."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence

from siuo_task.redact import safe_text
from siuo_task.report.tables import Block

CONTENT_WARNING = (
    "Content warning: the examples below contain model answers about self-harm, crime and other "
    "harmful topics."
)
UNTRUSTED_EXAMPLE_COLUMNS = (2, 3)  # question (dataset) and response (model)
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;"
    "font-size:13px;text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%}"
    "h2{font-size:1.15em;margin-top:1.6em}details{margin:.5em 0 2em}summary{cursor:pointer;font-weight:bold}"
    ".warning{background:#fff3cd;border:2px solid #d39e00;padding:.8em;font-weight:bold}"
)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MD_LINK_END = re.compile(
    r"\](?=[(\[:])"
)  # the "](", "][" or "]:" without which no link, image or definition forms
_MD_WWW = re.compile(r"(?i)\bwww\.")

# ---- Markdown ------------------------------------------------------------------------------------


def md_escape(text: str) -> str:
    """Text holding names or other user text (``--names``, folder names, notes) made inert in Markdown: no
    tags, links, images, link definitions, bare-URL autolinks or table breaks, while ``[95% CI]`` still reads
    as is. Control characters, ESC/OSC sequences and bidi controls are made inert first (``safe_text``)."""
    text = _MD_LINK_END.sub(r"\\]", safe_text(text).replace("\\", "\\\\"))
    text = text.replace("://", r":\/\/").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return _MD_WWW.sub(r"www\\.", text)


def _md_cell(text: str, untrusted: bool = False) -> str:
    """One table cell on one line. Untrusted (model or dataset) text has HTML and Markdown syntax escaped,
    so it cannot add tags, links or images; our own text, which carries names, goes through ``md_escape``."""
    text = str(text).replace("\r", " ").replace("\n", " ")
    if untrusted:
        return _MD_SPECIAL.sub(r"\\\1", html.escape(safe_text(text), quote=False))
    return md_escape(text)


def _md_table(header: list[str], rows: list[list[str]], untrusted_columns: tuple[int, ...] = ()) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    return "\n".join(
        lines
        + [
            "| " + " | ".join(_md_cell(c, i in untrusted_columns) for i, c in enumerate(row)) + " |"
            for row in rows
        ]
    )


def _md_examples(block: Block) -> str:
    table = _md_table(*block.payload, untrusted_columns=UNTRUSTED_EXAMPLE_COLUMNS)
    return f"## {block.title}\n\n> {CONTENT_WARNING}\n\n{table}"


MARKDOWN: dict[str, Callable[[Block], str]] = {
    "warning": lambda block: f"**{_md_cell(block.payload)}**",
    "text": lambda block: f"# {_md_cell(block.title)}\n\n{safe_text(block.payload, keep_newlines=True)}",
    "table": lambda block: f"## {_md_cell(block.title)}\n\n{_md_table(*block.payload)}",
    "notes": lambda block: (
        f"## {_md_cell(block.title)}\n\n" + "\n".join(f"- {_md_cell(note)}" for note in block.payload)
    ),
    "examples": _md_examples,
    "plot": lambda block: f"![{_md_cell(block.title)}](plot_{block.payload[0]}.png)",
}


def render_markdown(blocks: Sequence[Block]) -> str:
    """report.md: the blocks in order (plots as links to the PNG files written beside it)."""
    return "\n\n".join(MARKDOWN[block.kind](Block(*block)) for block in blocks) + "\n"


# ---- HTML ----------------------------------------------------------------------------------------


def html_text(text: object) -> str:
    """Any text made inert for HTML: ``safe_text`` (control, ESC and bidi characters shown as ``\\x1b``,
    ``\\u202e``; newlines kept), then HTML-escaped."""
    return html.escape(safe_text(text, keep_newlines=True))


def _bdi(text: object) -> str:
    """``html_text`` isolated from its neighbours' direction."""
    return f"<bdi>{html_text(text)}</bdi>"


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_bdi(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_bdi(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_plot(block: Block, plots: dict[str, bytes]) -> str:
    data = base64.b64encode(plots[block.payload[0]]).decode("ascii")
    return f'<img alt="{html_text(block.title)}" src="data:image/png;base64,{data}">'


def _html_notes(block: Block) -> str:
    items = "".join(f"<li>{_bdi(note)}</li>" for note in block.payload)
    return f"<h2>{_bdi(block.title)}</h2><ul>{items}</ul>"


def _html_examples(block: Block) -> str:
    return (
        f"<h2>{_bdi(block.title)}</h2><details><summary>{html_text(CONTENT_WARNING)} "
        f"Click to show.</summary>{_html_table(*block.payload)}</details>"
    )


HTML: dict[str, Callable[[Block, dict[str, bytes]], str]] = {
    "warning": lambda block, _: f'<p class="warning">{_bdi(block.payload)}</p>',
    "text": lambda block, _: f"<h1>{_bdi(block.title)}</h1><p>{_bdi(block.payload)}</p>",
    "table": lambda block, _: f"<h2>{_bdi(block.title)}</h2>{_html_table(*block.payload)}",
    "notes": lambda block, _: _html_notes(block),
    "examples": lambda block, _: _html_examples(block),
    "plot": _html_plot,
}


def render_html(blocks: Sequence[Block], plots: dict[str, bytes]) -> str:
    """report.html: one self-contained page, ``plots`` (plot key -> PNG bytes) embedded."""
    parts = "".join(HTML[block.kind](Block(*block), plots) for block in blocks)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SIUO report</title>'
        f"<style>{STYLE}</style></head><body>{parts}</body></html>\n"
    )
