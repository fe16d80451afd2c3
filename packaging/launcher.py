"""Entry script for frozen builds: the same `optiscope` command, window by default."""

import sys

from optiscope.engine.cli import main

if __name__ == "__main__":
    sys.exit(main())
