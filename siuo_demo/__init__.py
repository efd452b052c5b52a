"""The offline demo and its fakes: a loopback OpenAI-compatible server (with fault injection), scripted
models, placeholder images and the ``make demo`` driver (``python -m siuo_demo``). Not the product:
``siuo_dataset`` and ``siuo_task`` never import it (tests/test_layering.py)."""
