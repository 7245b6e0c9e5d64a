"""``python -m tests.soak``: the soak run (see run.py)."""

from __future__ import annotations

import sys

from tests.soak.run import main

sys.exit(main())
