"""How deep a JSON text nests, measured before it is decoded: Python's decoder recurses, so a hostile file
nested 100,000 deep would end in ``RecursionError``. No imports beyond the standard library: the annotation
reader, the task's readers and the verdict parser all bound their JSON with it."""

from __future__ import annotations

MAX_JSON_DEPTH = 64  # the deepest nesting of arrays/objects accepted in any JSON we read


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``text`` nests arrays/objects deeper than ``limit`` (linear, no recursion;
    brackets inside strings are skipped)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False
