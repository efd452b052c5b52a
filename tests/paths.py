"""Where the tests find the repository and the environment's commands (the interpreter running them)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
