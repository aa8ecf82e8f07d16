"""What every benchmark script shares: the results file it writes, and its small measuring helpers.

Each ``benchmarks/bench_*.py`` writes its results with :func:`write_results`, so that every file
under ``benchmarks/results/`` has the same head: ``command`` (as run), ``machine`` (CPUs, Python,
numpy, platform, load average at the end of the run), ``when``, then the script's own keys. The
scripts run as ``python benchmarks/bench_<name>.py``, which puts this folder first on ``sys.path``;
they import this module as ``_common``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["command", "free_port", "machine", "peak_mib", "write_results"]


def command(script: str, argv: list[str] | None = None) -> str:
    """The command line as a reader would type it: ``python benchmarks/<script> <args>``."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"benchmarks/{Path(script).name}", *args])


def machine() -> dict[str, Any]:
    """The machine the numbers come from (the load average: other work running beside them)."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform(), "node": platform.node(), "load": os.getloadavg()[0]}


def write_results(out: str | Path, script: str, payload: dict[str, Any], *,
                  argv: list[str] | None = None, quiet: bool = False) -> Path:
    """Write a benchmark's results as JSON (indented, one trailing newline) and say where.

    Parameters
    ----------
    out
        The file; its folder is made where missing.
    script
        The script's ``__file__`` (for ``command``).
    payload
        The script's own keys; they come after ``command``, ``machine`` and ``when``.
    argv
        The script's arguments, where not ``sys.argv[1:]`` (a ``main(argv)`` called from a test).
    quiet
        Do not print the ``wrote`` line.
    """
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {"command": command(script, argv), "machine": machine(),
              "when": time.strftime("%Y-%m-%dT%H:%M:%S"), **payload}
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not quiet:
        print(f"wrote {path}")
    return path


def peak_mib() -> float:
    """This process's peak resident memory, MiB (``ru_maxrss`` is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server the benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
