"""One definition of what a credential looks like, masked in every message, log and file we write or pass
through.

Masked: the userinfo of URLs (``http://user:pass@host`` -> ``http://***@host``), the values of key-like
settings (``api_key=...``, ``api-key: ...``, ``token=...``, ``password=...``, also as JSON
``"api_key": "..."``), OpenAI-style ``sk-...`` keys, Hugging Face ``hf_...`` tokens and ``Bearer ...`` tokens
(a bearer token needs a digit or punctuation, so prose such as "Bearer authentication" is left alone).
``redact_json`` masks every string in a JSON value and the whole value of a key-like field; ``pump_redacted``
copies a child process's output with it masked. ``safe_text`` makes user or server text inert for a terminal
or Markdown: control characters (ESC/OSC sequences included) and bidi controls are shown as ``\\xNN`` /
``\\uNNNN`` escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import IO, Any

MASK = "***"
_KEY_NAMES = (
    r"api[-_]?key|access[-_]?token|auth[-_]?token|hf[-_]?token|token|secret|client[-_]?secret|password|passwd"
)
_PATTERNS = (
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@\"',]+@"), rf"\1{MASK}@"),  # URL userinfo
    (re.compile(rf"(?i)\b({_KEY_NAMES})([\"']?\s*[=:]\s*[\"']?)[^\s,&;\"')]+"), rf"\1\2{MASK}"),
    (re.compile(r"(?i)(?<![\w-])(key=)[^\s,&;\"')]+"), rf"\1{MASK}"),  # key=... in model_args
    (re.compile(r"(?i)\b(bearer\s+)(?=[\w.~+/-]*[\d_.~+/-])[\w.~+/-]{8,}=*"), rf"\1{MASK}"),
    (re.compile(r"\bsk-[\w-]{8,}"), f"sk-{MASK}"),
    (re.compile(r"\bhf_(?=[A-Za-z]*\d)[A-Za-z0-9]{20,}"), f"hf_{MASK}"),
)
_KEY_FIELD = re.compile(rf"(?i)^(?:{_KEY_NAMES}|authorization)$")
# Every match of _PATTERNS holds one of these (each key name holds key, token, secret or passw): a text
# without any has nothing to mask, found in one scan instead of six.
_MAY_HOLD_CREDENTIAL = re.compile(r"(?i)@|key|token|secret|passw|bearer|sk-|hf_")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials masked; each of ``secrets`` (exact values, e.g. the judge key) too."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    if not _MAY_HOLD_CREDENTIAL.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# C0 and C1 controls (ESC starts CSI/OSC sequences; C1 holds the 8-bit CSI/OSC), DEL, and the bidi controls
# (embeddings/overrides U+202A-U+202E, isolates U+2066-U+2069, marks U+200E, U+200F, U+061C).
_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _escape_char(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: object, keep_newlines: bool = False) -> str:
    """``text`` (any object, as ``str``) with credentials masked and every control character, ESC/OSC
    sequence and bidi control made visible and inert (``\\x1b``, ``\\u202e``): safe to print to a terminal
    or write into Markdown. ``keep_newlines`` keeps ``\\n``."""
    text = redact(str(text))
    if keep_newlines:
        return "\n".join(_UNSAFE_CHARS.sub(_escape_char, part) for part in text.split("\n"))
    return _UNSAFE_CHARS.sub(_escape_char, text)


def redact_json(value: Any, secrets: Sequence[str] = ()) -> Any:
    """A copy of the JSON value ``value`` with every string redacted and key-like fields' values masked
    (each distinct string redacted once: lmms-eval's samples repeat a record under every metric name)."""
    redacted: dict[str, str] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: MASK
                if isinstance(key, str) and _KEY_FIELD.match(key) and isinstance(item, str) and item
                else walk(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, str):
            if value not in redacted:
                redacted[value] = redact(value, secrets)
            return redacted[value]
        return value

    return walk(value)


def secrets_in(text: str) -> bool:
    """Whether ``text`` holds anything ``redact`` would mask."""
    return redact(text) != text


def pump_redacted(source: IO[bytes], sink: IO[str]) -> None:
    """Copy ``source`` to ``sink`` redacted, piece by piece: each line, or each ``\\r``-ended progress-bar
    update."""
    pending = b""
    for chunk in iter(lambda: source.read1(1 << 16), b""):
        *complete, pending = re.split(rb"(?<=[\r\n])", pending + chunk)
        if complete:
            sink.write(redact(b"".join(complete).decode("utf-8", "replace")))
            sink.flush()
    if pending:
        sink.write(redact(pending.decode("utf-8", "replace")))
        sink.flush()
