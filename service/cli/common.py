"""What every command shares: the exit codes, where policy files are searched, and the heap freezer
of the commands that own a long-running process (``platsa serve``, ``platsa worker``)."""

from __future__ import annotations

import argparse
import gc
import logging
import time
from pathlib import Path

from service.config import Settings

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def policy_dirs() -> tuple[Path, ...]:
    """The folders of extra policy files (``PLATSA_POLICY_DIR``), searched as the server searches them.

    A region folder's ``region.toml`` names its policy by id; the commands that read a folder find
    that id where ``platsa serve`` would, so that a folder valid here imports there.
    """
    return Settings.from_env().policy_dirs


class GcFreeze:
    """A long-running process's freezer of its heap (:class:`service.state.HeapFreeze`).

    A full collection walks every tracked object; most of the ~200 000 of a serving process live as
    long as it does (the libraries') or until the next rebuild (the snapshot, its warmed cache), and
    walking them held every request for 125–165 ms (``benchmarks/README.md``, "HTTP service").
    :meth:`freeze` collects once (so that no garbage is frozen), then :func:`gc.freeze` leaves
    everything left out of later collections; :meth:`unfreeze` gives it back before a rebuild, so that
    a replaced snapshot's reference cycles can be freed. Process-wide: one app per process.
    """

    def freeze(self) -> None:
        started = time.perf_counter()
        gc.collect()
        gc.freeze()
        logger.info("%d objects frozen out of garbage collection (collected first in %.0f ms)",
                    gc.get_freeze_count(), (time.perf_counter() - started) * 1000)

    def unfreeze(self) -> None:
        gc.unfreeze()


def models_dir(data: str | Path, given: str | None = None) -> Path:
    """The folder of stored outcome models a command reads: ``--models`` if given, else
    ``PLATSA_MODELS_DIR`` (as the server reads it), else ``<region folder>/outcome-models`` (where
    ``platsa model train`` stores them by default)."""
    if given:
        return Path(given)
    configured = Settings.from_env().models_dir
    return configured if configured is not None else Path(data) / "outcome-models"


def add_models_argument(parser: argparse.ArgumentParser) -> None:
    """``--models DIR``: where a policy's named outcome model is looked up (:func:`models_dir`)."""
    parser.add_argument("--models", metavar="DIR",
                        help="folder of stored outcome models, for a policy whose [outcome_model] "
                             "weighs one (default: PLATSA_MODELS_DIR, else <DIR>/outcome-models)")
