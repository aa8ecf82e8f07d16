"""The shortlist cache: bounded by bytes, least recently used out first, and warmed without evicting."""

from __future__ import annotations

from service.cache import DEFAULT_K, CachedShortlist, ShortlistCache, cache_key, warm


def answer(size: int, who: str = "c1") -> CachedShortlist:
    return CachedShortlist(b"x" * size, (who,))


def test_the_least_recently_used_answer_goes_first() -> None:
    cache = ShortlistCache(max_bytes=30)
    for name in "abc":
        assert cache.put(name, answer(10))
    assert cache.get("a") is not None  # a is now the most recent
    assert cache.put("d", answer(10))
    assert "b" not in cache and {"a", "c", "d"} == {k for k in "abcd" if k in cache}
    assert cache.size_bytes == 30
    assert not cache.put("huge", answer(31))  # larger than the whole cache: not kept, nothing dropped
    assert len(cache) == 3


def test_without_eviction_an_answer_that_does_not_fit_is_not_kept() -> None:
    cache = ShortlistCache(max_bytes=25)
    assert cache.put("a", answer(10), evict=False)
    assert cache.put("b", answer(10), evict=False)
    assert not cache.put("c", answer(10), evict=False)
    assert cache.put("a", answer(15), evict=False)  # replacing an answer counts only the growth
    assert {k for k in "abc" if k in cache} == {"a", "b"} and cache.size_bytes == 25


def test_warming_fills_the_cache_until_it_is_full() -> None:
    cache = ShortlistCache(max_bytes=35)
    cache.put(cache_key("p2", DEFAULT_K, None), answer(10, "asked before"))
    computed: list[str] = []

    def compute(place: str) -> CachedShortlist:
        computed.append(place)
        return answer(10, place)

    kept = warm(cache, compute, ["p1", "p2", "p3", "p4", "p5"])
    assert kept == 2  # p1 and p3; p2 was there; p4 did not fit, and warming stopped
    assert computed == ["p1", "p3", "p4"]
    assert [p for p in ("p1", "p2", "p3", "p4", "p5") if cache_key(p, DEFAULT_K, None) in cache] == [
        "p1", "p2", "p3"]
    assert cache.get(cache_key("p2", DEFAULT_K, None)) == answer(10, "asked before")  # not replaced


def test_warming_stops_when_its_snapshot_is_no_longer_wanted() -> None:
    cache = ShortlistCache(max_bytes=1000)
    computed: list[str] = []

    def compute(place: str) -> CachedShortlist:
        computed.append(place)
        return answer(10, place)

    assert warm(cache, compute, ["p1", "p2", "p3"], wanted=lambda: len(computed) < 2) == 2
    assert computed == ["p1", "p2"]


def test_the_key_names_every_parameter() -> None:
    plain = cache_key("p1", DEFAULT_K, None)
    assert plain == cache_key("p1", DEFAULT_K, None, fair=True, include_held_back=False, policy_id=None)
    others = [cache_key("p2", DEFAULT_K, None), cache_key("p1", 11, None), cache_key("p1", DEFAULT_K, "angered"),
              cache_key("p1", DEFAULT_K, None, fair=False),
              cache_key("p1", DEFAULT_K, None, include_held_back=True),
              cache_key("p1", DEFAULT_K, None, policy_id="ostersund-alt1")]
    assert len({plain, *others}) == 1 + len(others)
