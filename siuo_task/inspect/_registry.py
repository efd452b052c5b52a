"""What Inspect's ``inspect_ai`` entry point imports (``pyproject.toml``): the SIUO tasks, registered as
``siuo_task/siuo_gen``, ``siuo_task/siuo_mcqa``, ``siuo_task/siuo_gen_text`` and ``siuo_task/siuo_mcqa_text``
(each registers the hook that writes its run files when it is created)."""

from siuo_task.inspect.tasks import siuo_gen, siuo_gen_text, siuo_mcqa, siuo_mcqa_text

__all__ = ["siuo_gen", "siuo_gen_text", "siuo_mcqa", "siuo_mcqa_text"]
