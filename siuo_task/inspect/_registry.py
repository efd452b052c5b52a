"""What Inspect's ``inspect_ai`` entry point imports (``pyproject.toml``): the SIUO tasks, registered as
``siuo_task/siuo_gen``, ``siuo_task/siuo_mcqa``, ``siuo_task/siuo_gen_text`` and ``siuo_task/siuo_mcqa_text``,
and the hook that writes their run files."""

from siuo_task.inspect.run_files import SiuoRunFiles
from siuo_task.inspect.tasks import siuo_gen, siuo_gen_text, siuo_mcqa, siuo_mcqa_text

__all__ = ["SiuoRunFiles", "siuo_gen", "siuo_gen_text", "siuo_mcqa", "siuo_mcqa_text"]
