"""Entry script of the frozen bundle: the one ``optiscope`` executable.

``optiscope`` alone opens the window, ``optiscope COMMAND ...`` is the headless command line,
``optiscope --version`` prints the version and ``optiscope --self-test`` opens the window,
checks its text is readable, trains one short run and exits (0 when everything works): the
frozen-app smoke test uses it. On Linux the bundle is started through ``linux/optiscope.sh``,
which checks the C library before this executable (and its libpython) is loaded.
"""

import multiprocessing
import sys


def main() -> int:
    from optiscope.engine.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen Windows/macOS child process must not rerun main
    sys.exit(main())
