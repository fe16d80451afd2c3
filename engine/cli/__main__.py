"""``python -m optiscope.engine.cli``: the same as the ``optiscope`` command."""

import sys

from . import main

sys.exit(main())
