"""`python -m tests.fuzz`: the fuzz campaign (see tests/fuzz/__init__.py)."""

import sys

from tests.fuzz._campaign import main

sys.exit(main())
