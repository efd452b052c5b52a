"""The lmms-eval metric names of the SIUO tasks and the YAMLs' ``metric_list``, derived from the metric
definitions (``siuo_task.protocol.metric_defs``).

Names: ``rate_<metric>@all`` / ``rate_<metric>@<domain key>`` (generation), ``mcqa_<metric>@all`` /
``mcqa_<metric>@<domain key>`` (MCQA), then each task's counts. None is a substring of another (lmms-eval
matches group metrics by substring): every name ends in ``@<scope>``.

The YAMLs cannot compute, and lmms-eval reads the task folder as it is (the source folder through
``--include_path``, or its byte-identical installed copy), so ``siuo_gen.yaml`` and ``siuo_mcqa.yaml`` keep
their ``metric_list`` written out; ``python -m siuo_task.lmms.metric_list`` (``make tasks-yaml``) rewrites it
from the definitions, and ``--check`` (run by the tests) fails when a YAML differs from them. Importing this
module does not import lmms-eval.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from siuo_dataset.domains import DOMAINS, domain_by_key
from siuo_task.lmms import SOURCE_TASKS_DIR
from siuo_task.protocol.metric_defs import GENERATION, MCQA, MetricDef, metric_defs

RATE_PREFIX = {GENERATION: "rate_", MCQA: "mcqa_"}
# The counts each task reports to lmms-eval beside its rates (computed in ``siuo_task.lmms.aggregation``).
COUNTS = {
    GENERATION: (
        "count_unparsable_items@all",
        "count_unparsable_responses@all",
        "count_judge_errors@all",
        "judge_approximate@all",  # 1 = offline judge, figures approximate
        "count_failed_requests@all",
    ),
    MCQA: ("count_mcqa_unparsable@all", "count_failed_requests@all"),
}
# The aggregation functions (``siuo_task.lmms.aggregation``) of a task's rates and of its counts.
AGGREGATIONS = {GENERATION: ("gen_rate", "gen_count"), MCQA: ("mcqa_accuracy", "mcqa_count")}
YAML_FILES = {GENERATION: "siuo_gen.yaml", MCQA: "siuo_mcqa.yaml"}  # the _text variants include these
AGGREGATION_MODULE = f"{__name__.rpartition('.')[0]}.aggregation"  # named, never imported: it imports us
MARKER = "# metric_list: generated from siuo_task/protocol/metric_defs.py (make tasks-yaml); do not edit\n"


def rate_name(metric: MetricDef, scope: str = "all") -> str:
    """``rate_safe@all``, ``rate_safe@self_harm``, ``mcqa_accuracy@all``."""
    return f"{RATE_PREFIX[metric.task]}{metric.name}@{scope}"


def read_rate_name(name: str, task: str) -> tuple[str, str | None]:
    """``rate_safe@self_harm`` -> ("safe", "self-harm"); ``@all`` -> (metric, None)."""
    metric, scope = name.removeprefix(RATE_PREFIX[task]).split("@")
    return metric, None if scope == "all" else domain_by_key(scope).name


def metric_names(task: str) -> list[str]:
    """The task's metric names, in the order of its YAML: rates overall, counts, rates by domain."""
    rates = metric_defs(task)
    return (
        [rate_name(m) for m in rates]
        + list(COUNTS[task])
        + [rate_name(m, d.key) for m in rates for d in DOMAINS]
    )


def metric_list(task: str) -> list[dict]:
    """The YAML's ``metric_list`` entries: name, aggregation function, direction."""
    rate_function, count_function = AGGREGATIONS[task]
    directions = {rate_name(m, d): m.higher_is_better for m in metric_defs(task) for d in ("all", *_keys())}
    return [
        {
            "metric": name,
            "aggregation": f"{AGGREGATION_MODULE}.{rate_function if name in directions else count_function}",
            "higher_is_better": directions.get(name, False),
        }
        for name in metric_names(task)
    ]


def _keys() -> list[str]:
    return [d.key for d in DOMAINS]


def metric_list_yaml(task: str) -> str:
    """The ``metric_list`` block of the task's YAML, as written there."""
    lines = [MARKER, "metric_list:\n"]
    for entry in metric_list(task):
        lines += [
            f'  - metric: "{entry["metric"]}"\n',
            f"    aggregation: !function {entry['aggregation']}\n",
            f"    higher_is_better: {'true' if entry['higher_is_better'] else 'false'}\n",
        ]
    return "".join(lines)


def with_metric_list(text: str, task: str) -> str:
    """A task YAML's text with its ``metric_list`` block (the last key of the file) generated."""
    start = text.find(MARKER)
    start = text.find("metric_list:\n") if start < 0 else start
    if start < 0 or not (start == 0 or text[start - 1] == "\n"):
        raise ValueError(f"{YAML_FILES[task]} has no top-level metric_list to regenerate")
    return text[:start] + metric_list_yaml(task)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether the YAMLs are up to date")
    parser.add_argument("--tasks-dir", type=Path, default=SOURCE_TASKS_DIR)
    args = parser.parse_args(argv)
    stale = []
    for task, file_name in YAML_FILES.items():
        path = args.tasks_dir / file_name
        text = path.read_text()
        wanted = with_metric_list(text, task)
        if wanted != text:
            stale.append(path)
            if not args.check:
                path.write_text(wanted)
    for path in stale:
        print(f"{path}: {'stale metric_list' if args.check else 'metric_list regenerated'}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
