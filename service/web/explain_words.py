"""The core's explanations (English sentences with figures) in the words of a page's language.

A shortlist line's terms (:func:`scoring.score.explain_pair`'s words), the hard rules a pair fails
and the held-back rules that apply (:func:`scoring.eligibility.explain_failures`,
:func:`scoring.eligibility.explain_held_back`) come from the core in English, each in one of a few
fixed forms. :func:`in_words` reads a text of one of those forms and says it again with the words
of ``service/web/words/places.toml``, figures in the language's decimal mark; a text in no known
form gives None, and the page shows it as the core wrote it, marked as English
(``lang="en"``). ``tests/web/test_explain_words.py`` renders every form the demo region produces
and fails on one that is not translated, so a new form in the core is noticed.

Facts the core words from data (a competence's label, a date) pass through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from scoring.eligibility import PLACEMENT_WORDS
from scoring.score import GROUP_WORDS

Translate = Callable[..., str]

_GROUP_OF = {words: group for group, words in GROUP_WORDS.items()}
_PLACEMENT_OF = {words: kind for kind, words in PLACEMENT_WORDS.items()}
_NUMBER = r"-?\d+(?:\.\d+)?"

#: (pattern, word key) of every fixed form; the groups are the figures, in order.
_FORMS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), key) for p, key in (
    # terms of a pair's score
    (r"the place asks for no particular competence", "pl_w_no_competence"),
    (rf"lives ({_NUMBER}) km away; accepts up to ({_NUMBER}) km", "pl_w_distance"),
    (r"on step (\d) of the work ladder \([^)]*\); the place takes step (\d) and up", "pl_w_ladder"),
    (r"on step (\d) of the work ladder, (\d) below the place's lowest \((\d)\); eligible with its supervisor",
     "pl_w_ladder_supervisor"),
    (r"registered (\d+) months \(counts up to (\d+)\)", "pl_w_time_far"),
    (r"in no priority group", "pl_w_no_group"),
    (rf"breaks the gender norm in this occupation \(({_NUMBER})% women\)", "pl_w_norm_breaker"),
    (rf"does not break the gender norm in this occupation \(({_NUMBER})% women\)", "pl_w_not_norm_breaker"),
    (r"predicted (\d+) % in work or studies after 180 days", "pl_w_outcome"),
    # hard rules a pair fails
    (r"already in a placement", "pl_w_placed"),
    (r"already proposed to this place \(the proposal is still open\)", "pl_w_proposed_here"),
    (r"on step (\d) of the work ladder; the place takes step (\d) and up, or step (\d) and up with its "
     r"supervisor", "pl_w_fail_ladder_supervisor"),
    (r"on step (\d) of the work ladder; the place takes step (\d) and up and offers no supervisor",
     "pl_w_fail_ladder"),
    (rf"lives ({_NUMBER}) km away; accepts at most ({_NUMBER}) km", "pl_w_fail_commute"),
    (r"available from (\S+); the place starts (\S+)", "pl_w_fail_available"),
    (r"available from (\S+); the place started (\S+) and takes people now \((\S+)\)",
     "pl_w_fail_available_now"),
    (rf"the place lasts ({_NUMBER}) months; the policy asks for at least ({_NUMBER}) months",
     "pl_w_fail_duration"),
    (r"lacks the required (.+)", "pl_w_fail_competence"),
    # held back
    (r"proposed elsewhere \(an open proposal\)", "pl_w_held_elsewhere_one"),
    (r"proposed elsewhere \((\d+) open proposals\)", "pl_w_held_elsewhere"),
    (r"declined at this supplier on (\S+?)(?:, ([^()]+))? \(held back (\d+) days after a decline\)",
     "pl_w_held_declined"),
))
_GRACE = re.compile(r"(.*) \(the policy allows (\d+) days later\)")
_HAS = re.compile(r"has (\d+) of (\d+) (required|wanted)(?: \((.*)\))?")
_GROUPS = re.compile(r"in priority groups: (.+)")
_TYPE = re.compile(r"(named no placement type|wants (.+)|did not ask for (.+)); wishes (\d+) h/week, "
                   r"the place has (\d+) h")
_WANTS = re.compile(r"wants (.+); the place is (.+)")


def in_words(text: str, translate: Translate, decimal: str = ",") -> str | None:
    """``text`` (one of the core's fixed forms) in the words of ``translate``; None when it is in
    no known form."""
    def num(value: str | None) -> str:
        return "" if value is None else value.replace(".", decimal)

    for pattern, key in _FORMS:
        found = pattern.fullmatch(text)
        if found:
            values = {f"v{i}": num(v) if re.fullmatch(_NUMBER, v or "") else (v or "")
                      for i, v in enumerate(found.groups(), start=1)}
            return translate(key, **values)
    if grace := _GRACE.fullmatch(text):
        head = in_words(grace.group(1), translate, decimal)
        return None if head is None else head + " " + translate("pl_w_grace", days=grace.group(2))
    if text.startswith("has "):
        parts = []
        for part in text.split("; "):
            has = _HAS.fullmatch(part)
            if has is None:
                return None
            got, of, kind, labels = has.groups()
            said = translate(f"pl_w_has_{kind}", got=got, of=of)
            parts.append(said + (f" ({labels})" if labels else ""))
        return "; ".join(parts)
    if groups := _GROUPS.fullmatch(text):
        names = [_GROUP_OF.get(name) for name in groups.group(1).split(", ")]
        if None in names:
            return None
        return translate("pl_w_groups", groups=", ".join(translate(f"group_{g}") for g in names))
    if kind := _TYPE.fullmatch(text):
        _whole, wants, not_asked, hours, place_hours = kind.groups()
        asked = wants or not_asked
        if asked is None:
            head = translate("pl_w_no_type")
        elif asked in _PLACEMENT_OF:
            head = translate("pl_w_wants" if wants else "pl_w_not_asked", kind=placement(asked, translate))
        else:
            return None
        return head + "; " + translate("pl_w_hours", hours=hours, place_hours=place_hours)
    if wanted := _WANTS.fullmatch(text):
        kinds = wanted.group(1).split(" or ")
        if any(k not in _PLACEMENT_OF for k in kinds) or wanted.group(2) not in _PLACEMENT_OF:
            return None
        said = translate("pl_w_or").join(placement(k, translate) for k in kinds)
        return translate("pl_w_fail_type", wants=said, kind=placement(wanted.group(2), translate))
    return None


def placement(words: str, translate: Translate) -> str:
    """A placement type in the core's words (``"an internship"``) in the page's words."""
    return translate(f"pl_type_a_{_PLACEMENT_OF[words]}")


def group_name(words: str, translate: Translate) -> str:
    """A priority group in the core's words (``"foreign-born"``) in the page's words (as is when unknown)."""
    group = _GROUP_OF.get(words)
    return words if group is None else translate(f"group_{group}")
