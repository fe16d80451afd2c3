"""Entry script of the frozen bundle: the one ``optiscope`` executable.

``optiscope`` alone opens the window, ``optiscope COMMAND ...`` is the headless command line,
and ``optiscope --self-test`` opens the window, trains one short run, reports missing Qt plugins
or resources and exits (0 when everything works): the frozen-app smoke test uses it.
"""

import multiprocessing
import sys


def main() -> int:
    if sys.argv[1:2] == ["--self-test"]:
        from optiscope.gui.app import main as app_main

        return app_main(sys.argv[1:])
    from optiscope.engine.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen Windows/macOS child process must not rerun main
    sys.exit(main())
