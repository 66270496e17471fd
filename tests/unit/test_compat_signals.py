"""Signals keep their Python meaning once ecmx has imported DOLFINx (PETSc's handlers are off).

With PETSc's default signal handler a write to a closed pipe (SIGPIPE) aborted the whole process
("PETSC ERROR: Caught signal number 13 Broken Pipe") where Python raises ``BrokenPipeError``; the
worker pools of ``ecmx compare`` and ``ecmx sweep`` rely on that when they end their workers.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import ecmx.solver._compat
    import dolfinx
    from petsc4py import PETSc
    assert PETSc.Sys.isInitialized()
    reader, writer = os.pipe()
    os.close(reader)
    try:
        os.write(writer, b"x")
    except BrokenPipeError:
        print("BrokenPipeError")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGTERM)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")
def test_broken_pipe_raises_and_sigterm_ends_the_process_quietly() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "BrokenPipeError", done.stdout + done.stderr
    assert done.returncode == -15 and "PETSC ERROR" not in done.stderr, (done.returncode, done.stderr)
