"""``python -m siuo_demo``: the demo driver."""

import sys

from siuo_demo.demo import main

sys.exit(main())
