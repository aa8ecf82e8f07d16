"""Answered shortlists, kept for as long as the region snapshot they were computed from.

A shortlist depends on the region (candidates, places), the policy and the proposals (held-back
rules); all of them reach the shortlist only through the :class:`~service.state.Snapshot`, which is
rebuilt after every import and every write to them. Each snapshot therefore holds its own
:class:`ShortlistCache`: a new snapshot starts empty, and the old one's answers go with it. Between
a write and the rebuild, cached and computed answers agree, because both come from the old snapshot.

A new snapshot's cache is filled in the background (:func:`warm`) with the region-wide list of the
default length for every place, as far as the cache has room, so that the first coordinator to ask
for a place does not wait for its computation.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from anyio import CapacityLimiter
from pydantic import TypeAdapter

from service.engine import Engine

logger = logging.getLogger(__name__)

DEFAULT_K = 10
"""The shortlist length a request gets when it does not say (``?k=``), and the one warmed."""

#: What FastAPI itself would send for the dict (NaN as null, and so on), as bytes.
_encode = TypeAdapter(dict[str, Any]).dump_json


@dataclass(frozen=True)
class CachedShortlist:
    """One answered shortlist: the JSON body as sent, and who is on it (for the audit log)."""

    body: bytes
    candidate_ids: tuple[str, ...]


def cache_key(place_id: str, k: int, district_id: str | None, *, fair: bool = True,
              include_held_back: bool = False, policy_id: str | None = None) -> Hashable:
    """What a shortlist answer depends on besides the snapshot: every parameter of the request.

    ``policy_id`` is None for the snapshot's own policy (the region's), so that a request naming
    that policy and one naming none share their answer. The defaults are the plain request's, the
    one the fast path answers and :func:`warm` fills the cache with.
    """
    return (place_id, k, district_id, fair, include_held_back, policy_id)


def answer_shortlist(engine: Engine, prepared: Any, policy: Any, place_id: str, k: int,
                     district_id: str | None, *, fair: bool = True,
                     include_held_back: bool = False) -> CachedShortlist:
    """Compute one shortlist and encode it as the endpoint sends it.

    Raises
    ------
    service.engine.EngineUnavailable
        The build has no shortlist implementation.
    """
    result = engine.shortlist(prepared, policy, place_id, k=k, district_id=district_id, fair=fair,
                              include_held_back=include_held_back)
    ids = tuple(line["candidate_id"] for line in result.get("lines", [])
                if isinstance(line, dict) and line.get("candidate_id"))
    return CachedShortlist(_encode(result), ids)


class ShortlistCache:
    """A least-recently-used map from a request's key to its answer, bounded by bytes of answers.

    Parameters
    ----------
    max_bytes
        Total size of the bodies kept; 0 keeps nothing.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, CachedShortlist] = OrderedDict()
        self._lock = threading.Lock()
        self.computing: dict[Hashable, asyncio.Future[CachedShortlist]] = {}
        """Answers being computed (touched only from the event loop): many clients asking for the
        same uncached list at once wait for one computation instead of each starting their own."""
        self._limiter: CapacityLimiter | None = None

    def limiter(self, tokens: int) -> CapacityLimiter:
        """The limit on computations at once, made in the event loop on first use (it belongs to
        that loop)."""
        if self._limiter is None:
            self._limiter = CapacityLimiter(tokens)
        return self._limiter

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable) -> CachedShortlist | None:
        """The answer for ``key``, or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, answer: CachedShortlist, *, evict: bool = True) -> bool:
        """Keep ``answer``, dropping the least recently used answers beyond ``max_bytes``.

        With ``evict=False`` nothing is dropped: an answer that does not fit beside the others is not
        kept. True if ``answer`` was kept.
        """
        size = len(answer.body)
        if size > self.max_bytes:
            return False
        with self._lock:
            old = self._entries.get(key)
            growth = size - (len(old.body) if old is not None else 0)
            if not evict and self.size_bytes + growth > self.max_bytes:
                return False
            if old is not None:
                del self._entries[key]
            self._entries[key] = answer
            self.size_bytes += growth
            while self.size_bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self.size_bytes -= len(dropped.body)
            return True


def warm(cache: ShortlistCache, compute: Callable[[str], CachedShortlist], place_ids: Iterable[str], *,
         k: int = DEFAULT_K, wanted: Callable[[], bool] = lambda: True) -> int:
    """Fill ``cache`` with the region-wide list of length ``k`` of each place in ``place_ids``.

    Stops at the first answer that would push another out of the cache, and as soon as ``wanted()``
    turns false (the snapshot was replaced, or the server is stopping). Places already cached (asked
    for meanwhile) are skipped. Run in a thread of its own: each computation holds the GIL for most of
    its time, as a miss on the request path does.

    Parameters
    ----------
    compute
        ``compute(place_id)``: the answer of :func:`answer_shortlist` for ``k`` and no district.

    Returns
    -------
    int
        Answers computed and kept.
    """
    started = time.perf_counter()
    kept = 0
    for place_id in place_ids:
        if not wanted():
            break
        key = cache_key(place_id, k, None)
        if key in cache:
            continue
        if not cache.put(key, compute(place_id), evict=False):
            logger.info("shortlist cache full after %d warmed lists (%.1f MB)", kept,
                        cache.size_bytes / 2**20)
            break
        kept += 1
    logger.info("warmed %d shortlists in %.1f s", kept, time.perf_counter() - started)
    return kept
