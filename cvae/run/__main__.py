"""``python -m cvae.run``: the quadrant experiment's command line (:mod:`cvae.run.cli`).

Ctrl-C while torch is still being imported (seconds) ends the command with one line and
status 130, as :func:`cvae.run.cli.main` does from then on.
"""

import os
import signal
import sys

from cvae.run import INTERRUPTED_EARLY


def _interrupted_early(signum: int, frame: object) -> None:
    os.write(2, f"error: {INTERRUPTED_EARLY}\n".encode())
    os._exit(130)


def _run() -> int:
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_early)
    from cvae.run.cli import main

    if signal.getsignal(signal.SIGINT) is _interrupted_early:  # main() reports it now
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return main()


if __name__ == "__main__":
    sys.exit(_run())
