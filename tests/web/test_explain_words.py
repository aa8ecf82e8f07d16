"""Every explanation the core writes over the demo region is said again in the pages' words: a new
form of sentence in the core fails here until ``service/web/explain_words.py`` knows it."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import generate_region
from scoring.eligibility import explain_failures, explain_held_back
from scoring.policy import load_named_policy
from scoring.pool import build_pool
from scoring.score import explain_pair
from scoring.shortlist import shortlist
from service.web.explain_words import in_words
from service.web.pages import words


@pytest.fixture(scope="module", params=["gothenburg", "ostersund"])
def pool(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    region = generate_region(request.param, "small", seed=11)
    policy = load_named_policy(region.manifest.policy)
    candidates, places = build_pool(region, policy)
    return candidates, places, policy


def _texts(pool, places, policy) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    """Every term, failure and held-back text of a sample of pairs, by kind."""
    found: dict[str, set[str]] = {"terms": set(), "failures": set(), "held_back": set(), "flags": set()}
    rng = np.random.default_rng(5)
    for place in rng.choice(places.size, 40, replace=False):
        place = int(place)
        for cand in rng.choice(pool.size, 40, replace=False):
            cand = int(cand)
            for term in explain_pair(pool, places, cand, place, policy).terms:
                found["terms"].add(term.text)
            found["failures"] |= {f.text for f in explain_failures(pool, places, cand, place, policy)
                                  if f.rule not in ("period", "free_slots")}
            found["held_back"] |= {h.text for h in explain_held_back(pool, places, cand, place, policy)}
        listing = shortlist(pool, places, str(places.ids[place]), k=20, policy=policy, include_held_back=True)
        for line in listing.lines:
            found["flags"] |= set(line.flags)
    return found


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_text_of_the_demo_is_translated(pool, lang: str) -> None:  # type: ignore[no-untyped-def]
    pool_, places, policy = pool
    texts = _texts(pool_, places, policy)
    rules = {text.split(" ", 1)[0] for text in texts["failures"]}
    assert len(texts["terms"]) > 100 and {"lives", "lacks", "on"} <= rules, "the sample is too small to test"
    translate = words(lang)
    missing = sorted(t for kind in texts.values() for t in kind if in_words(t, translate) is None)
    assert missing == [], "not in service/web/explain_words.py's forms:\n" + "\n".join(missing[:30])


def test_figures_keep_their_values() -> None:
    translate = words("sv")
    assert in_words("lives 3.9 km away; accepts up to 15 km", translate) == "bor 3,9 km bort; pendlar högst 15 km"
    assert in_words("has 1 of 2 required (Fönsterputs); has 0 of 1 wanted", translate) == (
        "har 1 av 2 krävda (Fönsterputs); har 0 av 1 önskade")
    assert in_words("in priority groups: youth, foreign-born", translate) == (
        "i prioriterade målgrupper: unga, utrikes födda")
    assert in_words("wants an internship or a job; the place is a trainee post", translate) == (
        "vill ha praktik eller en anställning; platsen är en traineeplats")
    assert in_words("something the core never wrote", translate) is None
