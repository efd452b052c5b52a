"""`siuo-eval review RUN_DIR`: serve the human review page of a judged run on loopback.

Prints one line with the URL (a random access token included) and opens the browser unless --no-browser.
Labels are appended to RUN_DIR/reviews.jsonl as they are clicked; stop the server with Ctrl-C at any time.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
import webbrowser
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_dataset.placeholders import is_placeholder
from siuo_task.cli.common import add_data_arguments, add_label_arguments, load_data
from siuo_task.files import REVIEWS_FILE, set_aside_torn_tail
from siuo_task.redact import safe_text
from siuo_task.review.page import ReviewSession, sample_ids
from siuo_task.review.server import LOOPBACK_HOSTS, create_app, serve
from siuo_task.runs import load_judged_run

REVIEWER_ENV = "SIUO_REVIEWER"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="judged run: `siuo-eval judge --out`, siuo-eval run")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --host to be a non-loopback address (anyone with the URL can then label)",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument(
        "--reviewer",
        default=None,
        help=f"your name in reviews.jsonl (required: this flag, or ${REVIEWER_ENV}; never the login name)",
    )
    parser.add_argument(
        "--blind",
        action="store_true",
        help="hide the judge's verdicts, raw text and the model's name until you labelled",
    )
    parser.add_argument("--sample", type=int, metavar="K", help="review a random, seeded subset of K items")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")
    add_data_arguments(parser)
    add_label_arguments(parser)


def check_host(host: str, allow_remote: bool) -> None:
    if host in LOOPBACK_HOSTS:
        return
    if not allow_remote:
        raise SiuoError(
            f"--host {host} is not loopback: anyone who can reach it and has the URL can label; "
            "add --allow-remote to do it anyway"
        )
    print(
        f"WARNING: serving on {host}: reachable from other machines; the token in the URL is the only "
        "protection",
        file=sys.stderr,
    )


def reviewer_name(args: argparse.Namespace) -> str:
    """Who labels: ``--reviewer``, else ``$SIUO_REVIEWER``; never guessed from the login (a shared machine's
    "root" would merge everyone's labels into one reviewer)."""
    reviewer = (args.reviewer if args.reviewer is not None else os.environ.get(REVIEWER_ENV, "")).strip()
    if not reviewer:
        raise SiuoError(
            f"who is reviewing? pass --reviewer YOUR-NAME (or export {REVIEWER_ENV}=YOUR-NAME): the name "
            "goes with every label in reviews.jsonl"
        )
    return reviewer


def run(args: argparse.Namespace) -> int:
    check_host(args.host, args.allow_remote)
    reviewer = reviewer_name(args)
    if args.sample is not None and args.sample < 1:
        raise SiuoError("--sample must be at least 1")
    set_aside_torn_tail(
        args.run / REVIEWS_FILE
    )  # a crash's torn last line is moved to .torn, never appended to
    judged = load_judged_run(args.run, accept_unfingerprinted=args.accept_unfingerprinted_labels)
    loaded = load_data(args, need_images=False)
    items = {item.question_id: item for item in loaded.items}
    unknown = sorted({row["question_id"] for row in judged.judgements} - set(items))
    if unknown:
        raise SiuoError(f"{args.run}: question_id {unknown[0]} is not a SIUO item: judged with other data?")
    question_ids = sample_ids(
        sorted({row["question_id"] for row in judged.judgements}), args.sample, args.seed
    )
    placeholders = any(
        items[qid].image_path is not None and is_placeholder(items[qid].image_path) for qid in question_ids
    )
    session = ReviewSession(
        judged,
        items,
        reviewer,
        secrets.token_urlsafe(24),
        args.blind,
        question_ids,
        args.accept_unfingerprinted_labels,
        placeholders,
    )
    judged.labels()  # a malformed reviews.jsonl is reported now (foreign ones counted), not on the first page
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)  # listening before the URL is printed: an early visit waits for uvicorn, not refused
    port = sock.getsockname()[1]
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown_host}:{port}/?token={session.token}"
    mode = ", blind" if args.blind else ""
    print(
        f"review: {url}  (reviewer {safe_text(reviewer)}, {len(question_ids)} items{mode}; labels -> "
        f"{judged.reviews_path}; Ctrl-C to stop)",
        flush=True,
    )
    if not args.no_browser:
        webbrowser.open(url)
    hosts = None if args.host in LOOPBACK_HOSTS else ["*"]
    serve(create_app(session, hosts), sock)
    return 0
