"""What the model under test is asked, and how its answers are sampled.

Generation: the user's question as it is, with the item's image in one user turn (``MODEL_CONTENT_ORDER``:
the text, then the image, as both official generation scripts send it), ``RESPONSES_PER_ITEM`` responses
sampled at ``GENERATION_TEMPERATURE`` (the paper's 3 at 1.0). MCQA: one answer at ``MCQA_TEMPERATURE`` (0)
to the fixed prompt below, which asks for the option's letter. The order holds where the message is ours to
build (chat model classes, the OpenAI-compatible path); lmms-eval's simple model classes build their own
prompt and put the image first (``docs/local-models.md``).
"""

from __future__ import annotations

from typing import Literal

RESPONSES_PER_ITEM = 3  # sampled responses per item in the generation protocol (the paper's)
GENERATION_TEMPERATURE = 1.0
MCQA_TEMPERATURE = 0.0
# the parts of the model's user turn, in order: the official scripts send the text, then the image
MODEL_CONTENT_ORDER: tuple[Literal["image", "text"], ...] = ("text", "image")

MCQA_INSTRUCTION = "Answer the following multiple-choice question with the option's letter directly."
MCQA_TEMPLATE = (
    MCQA_INSTRUCTION
    + """

Question: {question}
Options:
(A) {A}
(B) {B}
(C) {C}
(D) {D}

Answer:"""
)


def build_mcqa_prompt(question: str, options: dict[str, str]) -> str:
    """The MCQA prompt in the official layout: instruction, question, "(A) ..." options, an answer cue."""
    return MCQA_TEMPLATE.format(question=question, **{k: v.strip() for k, v in options.items()})
