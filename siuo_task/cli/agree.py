"""`siuo-eval agree A/judgements.jsonl B/judgements.jsonl`: how often two judges agree on the same responses.

Either file may instead be a reviews.jsonl of ``siuo-eval review`` on the same responses (whichever judge
judged them: a label belongs to the response): the human verdicts (reviewers' majority; ties left out) are
then compared with the judge on the reviewed responses, over all labels and separately over blind and
non-blind ones. The
comparison: ``siuo_task.scoring.agreement.compare_judgements``."""

from __future__ import annotations

import argparse
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task import readers as responses
from siuo_task.cli.common import add_label_arguments
from siuo_task.files import check_output_folder, write_json_atomic
from siuo_task.provenance import provenance
from siuo_task.readers import is_reviews_file, read_reviews
from siuo_task.scoring.agreement import compare_judgements
from siuo_task.scoring.human import human_judgements
from siuo_task.scoring.labels import judges_beside, usable_labels

COMPARED = ("category", "response", "safe", "effective")
# human labels, split by whether the reviewer saw the judge's verdict (a seen verdict can anchor the label)
LABEL_KINDS = {"blind": True, "not_blind": False}
LABEL_KIND_TEXT = {
    "blind": "blind labels (judge's verdict hidden)",
    "not_blind": "non-blind labels (judge's verdict seen)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("first", type=Path, help="judgements.jsonl of judge A")
    parser.add_argument(
        "second",
        type=Path,
        help="judgements.jsonl of judge B (same responses), or a reviews.jsonl of A's run (human labels)",
    )
    parser.add_argument("--out", type=Path, help="write agreement.json here")
    add_label_arguments(parser)


def read_judgements(path: Path) -> dict[tuple[int, int], dict]:
    """Rows of a judgements.jsonl keyed by (question_id, response_index), with the fields compared."""
    rows = {
        (row["question_id"], row["response_index"]): {field: row[field] for field in COMPARED}
        for row in responses.read_judgements(path)
    }
    if not rows:
        raise SiuoError(f"{path}: no judgements found — pass the judgements.jsonl of a judged run")
    return rows


def judge_of(path: Path) -> dict | None:
    """The judge block the judgements in ``path`` record (None when they record none)."""
    return next((row.get("judge") for row in responses.read_judgements(path)), None)


def run(args: argparse.Namespace) -> int:
    if args.out:
        check_output_folder(args.out, ["agreement.json"], [args.first, args.second])
    if is_reviews_file(args.first):
        raise SiuoError(f"{args.first}: give the judge's judgements.jsonl first and the reviews file second")
    first = read_judgements(args.first)
    by_kind: dict = {}
    if is_reviews_file(args.second):
        labels = usable_labels(
            responses.read_judgements(args.first),
            read_reviews(args.second),
            str(args.second),
            accept_unfingerprinted=args.accept_unfingerprinted_labels,
            legacy_judges=judges_beside(args.second),
        )
        second = human_judgements(labels, first, str(args.second))
        for kind, blind in LABEL_KINDS.items():
            humans = human_judgements(labels, first, str(args.second), blind=blind, required=False)
            by_kind[kind] = (
                compare_judgements({key: first[key] for key in humans}, humans, str(args.first), kind)
                if humans
                else None
            )
        first = {key: first[key] for key in second}
        print(
            f"{args.first} (judge, A) vs the human labels in {args.second} (B), on the {len(second)} "
            "reviewed responses"
        )
    else:
        second = read_judgements(args.second)
    result = compare_judgements(first, second, str(args.first), str(args.second))
    for field, summary in result.items():
        print(
            f"{field}: agreement {summary['agreement']}, kappa {summary['kappa']}, n={summary['n']}, "
            f"confusion (A rows vs B columns) {summary['confusion']}, "
            f"{summary['excluded_unparsable']} without a verdict from both"
        )
        for name, domain in summary["per_domain"].items():
            print(
                f"  {name:<34} agreement {domain['agreement']!s:>6}  kappa {domain['kappa']!s:>7}  "
                f"n={domain['n']}"
            )
    for kind, compared in by_kind.items():
        if compared is None:
            print(f"{LABEL_KIND_TEXT[kind]}: none")
            continue
        print(
            f"{LABEL_KIND_TEXT[kind]}: "
            + "; ".join(
                f"{field} agreement {summary['agreement']}, kappa {summary['kappa']}, n={summary['n']}"
                for field, summary in compared.items()
            )
        )
    if args.out:
        human = is_reviews_file(args.second)
        sides = {
            "first": {"file": str(args.first), "judge": judge_of(args.first)},
            "second": {
                "file": str(args.second),
                "judge": None if human else judge_of(args.second),
                "human_labels": human,
            },
        }
        kinds = {"by_label_kind": by_kind} if human else {}
        write_json_atomic(args.out / "agreement.json", {**provenance(), **sides, **result, **kinds})
        print(f"-> {args.out / 'agreement.json'}")
    return 0
