"""Child processes that Ctrl-C can interrupt, however the test suite itself was started.

A shell without job control (a script, ``nohup cmd &``) starts background commands with SIGINT
ignored, every child inherits that, and a Python started with SIGINT ignored keeps ignoring it:
the tests that send SIGINT to an ``ecmx`` process would then see it run on. The children of those
tests restore the default disposition before they start, as a terminal's foreground job has it.
"""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` of a child that must react to SIGINT as Python does by default (KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
