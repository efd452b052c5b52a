"""Tiny random-weight checkpoints of real VLM families, built at test time (nothing is downloaded).

Each builder writes a folder that ``from_pretrained`` loads like a Hub checkpoint: the family's own model
class (a few hundred thousand random parameters), a word-level tokenizer trained by the ``tokenizers``
library on the SIUO question words (so the prompts of both tasks mostly map to real tokens), and the family's
own processor class with its chat template. A tiny model answers in word salad; what is under test is the
path from our task to the model and back: lmms-eval's model class, the processor, the image tokens,
the generation settings.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from siuo_dataset.placeholders import PLACEHOLDER_SIZE
from siuo_task.protocol.model_prompts import MCQA_INSTRUCTION

SEED = 1234
# Words of the chat templates and the MCQA prompt layout, so templated prompts map to real tokens too.
TEMPLATE_WORDS = [
    "USER",
    "ASSISTANT",
    "user",
    "assistant",
    "system",
    "model",
    "Question",
    "Options",
    "Answer",
]
TEMPLATE_WORDS += list("ABCD():\n")

# The families' own chat templates (llava-hf/llava-1.5-7b-hf, llava-hf/llava-v1.6-mistral-7b-hf,
# google/gemma-3-4b-it), as their chat_template files hold them.
CHAT_TEMPLATES = Path(__file__).with_name("chat_templates")


def chat_template(family: str) -> str:
    return (CHAT_TEMPLATES / f"{family}.jinja").read_text()


@dataclass(frozen=True)
class TinyModel:
    """A saved checkpoint and what one SIUO image (64x64) becomes in it, measured when it was built."""

    family: str
    path: Path
    image_token_id: int
    image_tokens_per_image: int  # image-token positions in input_ids
    image_vectors: int  # vectors the vision tower (get_image_features) returns for it


def question_words(data_dir: Path) -> list[str]:
    """The words of the SIUO questions and of the MCQA instruction, as the tokenizer splits them."""
    split = pre_tokenizers.Whitespace()
    texts = [row["question"] for row in json.loads((data_dir / "siuo_gen.json").read_text())]
    texts.append(MCQA_INSTRUCTION)
    words = {word for text in texts for word, _ in split.pre_tokenize_str(text)}
    return sorted(words | set(TEMPLATE_WORDS))


def word_tokenizer(data_dir: Path, specials: list[str], **roles) -> PreTrainedTokenizerFast:
    """A WordLevel tokenizer over the question words; ``specials`` first (ids 0..), ``roles`` name them
    (``bos_token="<s>"``, ...). Unknown words become ``<unk>``; decoding joins words with spaces."""
    specials = specials if "<unk>" in specials else ["<unk>", *specials]
    vocab = {token: index for index, token in enumerate(specials)}
    for word in question_words(data_dir):
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer.add_special_tokens(specials)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", **roles)


def _seeded() -> None:
    torch.manual_seed(SEED)


def parameter_count(path: Path) -> int:
    """Parameters stored in a checkpoint folder (its safetensors files)."""
    from safetensors import safe_open

    total = 0
    for file in path.glob("*.safetensors"):
        with safe_open(str(file), framework="pt") as tensors:
            for name in tensors.keys():  # noqa: SIM118 (safe_open is not iterable)
                total += math.prod(tensors.get_slice(name).get_shape())
    return total


# ---- LLaVA (llava_hf): CLIP vision tower + Llama decoder, LlavaProcessor -----------------------------------


def build_llava(data_dir: Path, out: Path):
    from transformers import (
        CLIPImageProcessor,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tokenizer = word_tokenizer(
        data_dir,
        ["<unk>", "<s>", "</s>", "<pad>", "<image>"],
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )
    image_size, patch = 16, 8
    config = LlavaConfig(
        vision_config=_clip_vision(image_size, patch),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(image_size // patch) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    _seeded()
    model = LlavaForConditionalGeneration(config).eval()
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
        ),
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS position, dropped by the "default" strategy
        chat_template=chat_template("llava"),
    )
    return model, processor, config.image_token_index


def _clip_vision(image_size: int, patch: int):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch,
        projection_dim=32,
    )


# ---- LLaVA-NeXT (llava_hf, model_type llava_next): any-resolution tiles, Mistral decoder -------------------


def build_llava_next(data_dir: Path, out: Path):
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessorPil,
        LlavaNextProcessor,
        MistralConfig,
    )

    tokenizer = word_tokenizer(
        data_dir,
        ["<unk>", "<s>", "</s>", "<pad>", "<image>", "[INST]", "[/INST]"],
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )
    image_size, patch = 16, 8
    pinpoints = [[16, 16], [16, 32], [32, 16], [32, 32]]
    config = LlavaNextConfig(
        vision_config=_clip_vision(image_size, patch),
        text_config=MistralConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            max_position_embeddings=1024,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    _seeded()
    model = LlavaNextForConditionalGeneration(config).eval()
    processor = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessorPil(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
            image_grid_pinpoints=pinpoints,
        ),
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=chat_template("llava_next"),
    )
    return model, processor, config.image_token_index


# ---- Gemma 3 (gemma3): SigLIP vision tower pooled into mm_tokens_per_image soft tokens, Gemma3Processor ---


def build_gemma3(data_dir: Path, out: Path):
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessorPil,
        Gemma3Processor,
        Gemma3TextConfig,
        SiglipVisionConfig,
    )

    tokenizer = word_tokenizer(
        data_dir,
        [
            "<pad>",
            "<eos>",
            "<bos>",
            "<unk>",
            "<start_of_turn>",
            "<end_of_turn>",
            "<start_of_image>",
            "<end_of_image>",
            "<image_soft_token>",
        ],  # fmt: skip
        bos_token="<bos>",
        eos_token="<end_of_turn>",
        pad_token="<pad>",
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
    )
    image_size, patch, tokens = 16, 4, 4
    config = Gemma3Config(
        text_config=Gemma3TextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            sliding_window=64,
            max_position_embeddings=1024,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=SiglipVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch,
        ),
        mm_tokens_per_image=tokens,
        boi_token_index=tokenizer.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=tokenizer.convert_tokens_to_ids("<end_of_image>"),
        image_token_index=tokenizer.convert_tokens_to_ids("<image_soft_token>"),
    )
    _seeded()
    model = Gemma3ForConditionalGeneration(config).eval()
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size}),
        tokenizer=tokenizer,
        chat_template=chat_template("gemma3"),
        image_seq_length=tokens,
    )
    return model, processor, config.image_token_index


# Random weights would write all max_new_tokens (500) of every answer, ~5 s of CPU per run; the checkpoints'
# generation config makes the end-of-sequence token ever likelier after a few tokens (transformers'
# ExponentialDecayLengthPenalty), so answers end after some ten tokens. lmms-eval's settings (max_new_tokens,
# do_sample, temperature) still reach generate() as given, which is what the tests check.
ANSWER_ENDS_AFTER = (4, 2.0)  # (tokens before the penalty starts, its factor per token)

BUILDERS = {"llava": build_llava, "llava_next": build_llava_next, "gemma3": build_gemma3}

# The llava-hf Hub repos hold the processor's chat template in the legacy chat_template.json, read by the
# processor only; their tokenizer has no template, so lmms-eval's simple llava_hf class falls back to its
# Vicuna template (string content, "<image>" prepended). transformers 5's save_pretrained writes
# chat_template.jinja instead, which the tokenizer loads too: with that list-content template the simple
# class's string prompt renders empty ("Found total 0 <image> tokens"). The checkpoints keep the Hub layout.
LEGACY_CHAT_TEMPLATE = {"llava", "llava_next"}


def _legacy_chat_template(out: Path) -> None:
    jinja = out / "chat_template.jinja"
    (out / "chat_template.json").write_text(json.dumps({"chat_template": jinja.read_text()}, indent=2))
    jinja.unlink()


def _image_footprint(model, processor, image_token_id: int) -> tuple[int, int]:
    """(image-token positions, vision vectors) of one placeholder-sized image in this checkpoint."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Question"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(
        images=[Image.new("RGB", PLACEHOLDER_SIZE, (9, 99, 199))], text=text, return_tensors="pt"
    )
    positions = int((inputs["input_ids"] == image_token_id).sum())
    pixels = {k: v for k, v in inputs.items() if k in ("pixel_values", "image_sizes")}
    with torch.no_grad():
        features = model.model.get_image_features(**pixels)
    features = getattr(features, "pooler_output", features)
    parts = features if isinstance(features, (list, tuple)) else [features]
    return positions, sum(part.reshape(-1, part.shape[-1]).shape[0] for part in parts)


def build(family: str, data_dir: Path, out: Path) -> TinyModel:
    """Build, save and measure the tiny checkpoint of ``family`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    model, processor, image_token_id = BUILDERS[family](data_dir, out)
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.generation_config.exponential_decay_length_penalty = ANSWER_ENDS_AFTER
    model.save_pretrained(out)
    processor.save_pretrained(out)
    if family in LEGACY_CHAT_TEMPLATE:
        _legacy_chat_template(out)
    tokens, vectors = _image_footprint(model, processor, image_token_id)
    return TinyModel(family, out, image_token_id, tokens, vectors)
