"""``python -m cvae.run``: the experiments' command line (:mod:`cvae.run.cli`).

Ctrl-C while torch is still being imported (seconds) ends the command with one line and
status 130, as :func:`main` does from then on.
"""

import os
import signal
import sys

from cvae.run import INTERRUPTED_EARLY


def _interrupted_early(signum: int, frame: object) -> None:
    os.write(2, f"error: {INTERRUPTED_EARLY}\n".encode())
    os._exit(130)


def main(argv: list[str] | None = None) -> int:
    """``labels ...``: the label CVAE's run (:mod:`cvae.run.labels`); anything else:
    the quadrant experiment's (:func:`cvae.run.cli.main`). Returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from cvae.run.cli import fail
    from cvae.run.cli import main as quadrants

    if argv[:1] != ["labels"]:
        return quadrants(argv)
    from cvae.run.labels import command_line

    try:
        return command_line(argv)
    except KeyboardInterrupt:  # before the run began (the run's own is reported)
        return fail(INTERRUPTED_EARLY, status=130)


def _run() -> int:
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_early)
    import cvae.run.cli  # noqa: F401  (torch: the slow import)

    if signal.getsignal(signal.SIGINT) is _interrupted_early:  # main() reports it now
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return main()


if __name__ == "__main__":
    sys.exit(_run())
