"""``python -m siuo_task.cli``: the siuo-eval command."""

import sys

from siuo_task.cli import main

sys.exit(main())
