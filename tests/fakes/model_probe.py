"""What the model actually received: copied as ``sitecustomize.py`` into a test's temp folder, which goes on
PYTHONPATH of the real ``lmms-eval`` run (and of every process ``accelerate launch`` starts).

With $SIUO_PROBE_DIR set it wraps, in transformers, every processor's ``__call__`` (the texts and images it
was given, the ``input_ids`` it made), ``GenerationMixin.generate`` (the generation settings, the image-token
positions and pixel values in its inputs, how many tokens came out) and the model's ``get_image_features``
(the vision tower really ran), and appends one JSON line per call to ``<dir>/probe-<pid>.jsonl``; at exit,
the process's main module and which of ``WATCHED_MODULES`` it imported. It installs itself when the process
imports transformers, so a process that never does (siuo-eval's own, accelerate's launcher) does not pay for
it (~5 s of CPU). Nothing of lmms-eval or of our task is touched. Self-contained: it imports nothing from the
repository.
"""

import importlib.abc
import importlib.util
import os
import sys

PROBE_DIR = os.environ.get("SIUO_PROBE_DIR")
WATCHED_MODULES = ("evaluate.evaluator", "transformers.pipelines", "nltk")  # siuo-eval's child imports none


def _install() -> None:
    import atexit
    import functools
    import hashlib
    import json
    import threading

    import transformers
    from PIL import Image
    from transformers.generation.utils import GenerationMixin
    from transformers.processing_utils import ProcessorMixin

    lock = threading.Lock()
    path = os.path.join(PROBE_DIR, f"probe-{os.getpid()}.jsonl")

    def write(event: dict) -> None:
        event["rank"] = int(os.environ.get("RANK", 0))
        with lock, open(path, "a") as out:
            out.write(json.dumps(event, default=str) + "\n")

    def image_digest(image) -> dict:
        rgb = image.convert("RGB")
        count, colour = max(rgb.getcolors(rgb.width * rgb.height))
        return {
            "size": list(rgb.size),
            "sha256": hashlib.sha256(rgb.tobytes()).hexdigest(),
            "colour": list(colour),  # the most common pixel: a placeholder's background survives resizing
            "lossy": bool(image.info.get("siuo_probe_lossy")),  # came as a JPEG data URL: pixels re-encoded
        }

    def as_image(item):
        """A PIL image, or the one a string names (a data URL, a path or a URL, as processors load them:
        apply_chat_template passes the message's image blocks on as they are)."""
        if isinstance(item, str):
            from transformers.image_utils import load_image

            image = load_image(item)
            image.info["siuo_probe_lossy"] = item.startswith(("data:image/jpeg", "data:image/jpg"))
            return image
        return item

    def flat_images(images, strings: bool = True) -> list:
        """The images in ``images`` (nested lists too); strings are loaded only when ``strings``."""
        if images is None:
            return []
        if isinstance(images, (Image.Image, str)):
            images = [images]
        found = []
        for item in images:
            if isinstance(item, (list, tuple)):
                found.extend(flat_images(item, strings))
            else:
                found.append(as_image(item) if strings else item)
        return [image for image in found if isinstance(image, Image.Image)]

    def id_rows(ids) -> list[list[int]]:
        return ids.tolist() if hasattr(ids, "tolist") else [list(row) for row in ids]

    def shape(value):
        return list(value.shape) if hasattr(value, "shape") else None

    wrapped_processors: set[type] = set()

    def wrap_processor(cls: type) -> None:
        if cls in wrapped_processors:
            return
        wrapped_processors.add(cls)
        original = cls.__call__

        @functools.wraps(original)
        def call(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            text = kwargs.get("text", args[0] if args and isinstance(args[0], (str, list)) else None)
            images = kwargs.get("images")
            if images is None:
                images = next((a for a in args if flat_images(a, strings=False)), None)
            ids = result.get("input_ids") if hasattr(result, "get") else None
            write(
                {
                    "event": "processor",
                    "class": type(self).__name__,
                    "text": [text] if isinstance(text, str) else list(text or []),
                    "images": [image_digest(image) for image in flat_images(images)],
                    "input_ids": id_rows(ids) if ids is not None else None,
                    "pixel_values": shape(result.get("pixel_values")) if hasattr(result, "get") else None,
                }
            )
            return result

        cls.__call__ = call

    original_from_pretrained = ProcessorMixin.from_pretrained.__func__

    @functools.wraps(original_from_pretrained)
    def from_pretrained(cls, *args, **kwargs):
        processor = original_from_pretrained(cls, *args, **kwargs)
        wrap_processor(type(processor))
        return processor

    ProcessorMixin.from_pretrained = classmethod(from_pretrained)

    def image_token_ids(config) -> set[int]:
        names = ("image_token_id", "image_token_index")
        found = {getattr(config, name) for name in names if isinstance(getattr(config, name, None), int)}
        return found

    def watch_vision(model) -> None:
        base = getattr(model, "model", model)
        if getattr(base, "_siuo_probe_watched", False) or not hasattr(base, "get_image_features"):
            return
        original = base.get_image_features

        @functools.wraps(original)  # generate() reads its signature to pick the arguments it passes
        def get_image_features(*args, **kwargs):
            features = original(*args, **kwargs)
            tensors = getattr(features, "pooler_output", features)
            if isinstance(tensors, (list, tuple)):
                vectors = sum(t.reshape(-1, t.shape[-1]).shape[0] for t in tensors)
            else:
                vectors = tensors.reshape(-1, tensors.shape[-1]).shape[0]
            write({"event": "image_features", "class": type(model).__name__, "vectors": int(vectors)})
            return features

        base.get_image_features = get_image_features
        base._siuo_probe_watched = True

    original_generate = GenerationMixin.generate

    @functools.wraps(original_generate)
    def generate(self, *args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__")  # the lmms-eval model module that called generate
        watch_vision(self)
        ids = kwargs.get("input_ids", args[0] if args else None)
        config = self.generation_config
        settings = {
            name: kwargs.get(name, getattr(config, name, None))
            for name in (
                "do_sample",
                "temperature",
                "top_p",
                "num_beams",
                "max_new_tokens",
                "num_return_sequences",
            )
        }
        output = original_generate(self, *args, **kwargs)
        sequences = getattr(output, "sequences", output)
        tokens = image_token_ids(self.config)
        rows = id_rows(ids)
        write(
            {
                "event": "generate",
                "class": type(self).__name__,
                "caller": caller,
                "settings": settings,
                "input_ids": rows,
                "image_tokens": [sum(token in tokens for token in row) for row in rows],
                "pixel_values": shape(kwargs.get("pixel_values")),
                "new_tokens": [len(out) - len(row) for row, out in zip(rows, id_rows(sequences))],
            }
        )
        return output

    GenerationMixin.generate = generate
    write({"event": "installed", "transformers": transformers.__version__})

    def at_exit() -> None:
        spec = getattr(sys.modules["__main__"], "__spec__", None)  # the module `python -m` ran, if any
        imported = [name for name in WATCHED_MODULES if name in sys.modules]
        write({"event": "exit", "main": spec.name if spec else sys.argv[0], "imported": imported})

    atexit.register(at_exit)


class _InstallWithTransformers(importlib.abc.MetaPathFinder):
    """Finds transformers as Python would, and installs the probe once its package has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "transformers":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run_package = spec.loader.exec_module

        def exec_module(module) -> None:
            run_package(module)
            _install()

        spec.loader.exec_module = exec_module
        return spec


if PROBE_DIR:
    sys.meta_path.insert(0, _InstallWithTransformers())
