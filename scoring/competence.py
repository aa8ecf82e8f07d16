"""Competence labels to concept codes: exact keys first, then fuzzy matching, each label once.

Candidates' and places' competences arrive as free text ("B-körkort", "körkort B", "Truck-kort")
or as taxonomy codes ("lic-b"). Scoring compares *concepts*, so every label is mapped once, where
the data is loaded, to the code of a concept in the competence vocabulary
(:mod:`scoring.taxonomy`). A query is then array arithmetic on concept bitsets
(:mod:`scoring.pool`), never string comparison.

How a label is mapped (:meth:`CompetenceNormaliser.normalise`):

1. **Key.** Casefold, strip, fold å/ä → a and ö → o (also é, ü, æ, ø), turn hyphens, underscores,
   slashes and dots into spaces and collapse runs of spaces: the *spaced key* (``"b korkort"``).
   Removing the spaces gives the *compact key* (``"bkorkort"``), so that "Truck-kort",
   "truck kort" and "truckkort" are one key.
2. **Exact.** The compact key of every concept label, variant and code is looked up first.
3. **Fuzzy.** Otherwise rapidfuzz compares the label with every vocabulary entry twice: by
   ``token_sort_ratio`` on spaced keys (word order does not matter: "körkort B" = "B-körkort") and
   by ``ratio`` on compact keys (spelling: "stallningsbyggnad" ≈ "ställningsbygge"). The best
   score wins if it reaches :data:`FUZZY_CUTOFF` (85 of 100) and no *other* concept reaches the
   same score (an ambiguous label is left unknown rather than guessed). Keys shorter than
   :data:`MIN_FUZZY_LENGTH` characters are never fuzzy-matched: "el" and "ac" are too short for
   edit distance to mean anything.
4. **Unknown.** A label that matches nothing is *kept*: it becomes the pseudo-concept
   ``"?" + spaced key``, which still matches the same words on the other side exactly, and is
   counted in :attr:`CompetenceNormaliser.unknown` so that a data steward can extend the
   vocabulary. Nothing is silently dropped.

Every distinct label is mapped once and cached, so mapping a million candidates' labels costs
the number of *distinct* labels, not the number of rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

from rapidfuzz import fuzz, process

__all__ = [
    "FUZZY_CUTOFF",
    "MIN_FUZZY_LENGTH",
    "UNKNOWN_PREFIX",
    "CompetenceNormaliser",
    "compact_key",
    "spaced_key",
]

#: Lowest rapidfuzz score (0..100) accepted as a match. 85 accepts one or two edits in a
#: ten-to-twenty letter Swedish compound ("stallningsbyggnad" vs "ställningsbygge": 87.5) and
#: word-order changes, and rejects different compounds that share letters ("truckkort" vs
#: "traktorkort": 70).
FUZZY_CUTOFF = 85.0
#: Compact keys shorter than this are matched exactly or not at all.
MIN_FUZZY_LENGTH = 4
#: Prefix of the pseudo-concept code given to a label the vocabulary does not know.
UNKNOWN_PREFIX = "?"

_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o", "é": "e", "è": "e", "ü": "u", "æ": "a", "ø": "o"})
_SEPARATORS = re.compile(r"[\s\-_/.,]+")


def spaced_key(label: str) -> str:
    """The lookup key of a label with its words kept: folded, separators as single spaces.

    Examples
    --------
    >>> spaced_key("  B-Körkort ")
    'b korkort'
    """
    return _SEPARATORS.sub(" ", label.casefold().translate(_FOLD)).strip()


def compact_key(label: str) -> str:
    """The lookup key of a label without separators: "Truck-kort" and "truckkort" are one key.

    Examples
    --------
    >>> compact_key("Truck-kort") == compact_key("truckkort")
    True
    """
    return spaced_key(label).replace(" ", "")


class Vocabulary(Protocol):
    """What the normaliser needs from :class:`scoring.taxonomy.CompetenceVocabulary`."""

    def all_labels(self) -> Iterable[tuple[str, str]]:
        """Every (label or variant, concept code) pair."""
        ...


class CompetenceNormaliser:
    """Map competence labels (free text or codes) to concept codes of a vocabulary.

    Parameters
    ----------
    entries
        (label or variant, concept code) pairs. Each code also maps to itself.
    cutoff
        Lowest fuzzy score (0..100) accepted; see :data:`FUZZY_CUTOFF`.

    Attributes
    ----------
    unknown
        Labels (as given) that matched no concept, with how often :meth:`normalise` saw them.
    fuzzy_matches
        Labels (as given) mapped by fuzzy matching, with the code chosen: for review.

    Examples
    --------
    >>> norm = CompetenceNormaliser([("B-körkort", "lic-b"), ("Truckkort", "lic-truck")])
    >>> [norm.normalise(s) for s in ("körkort B", "Korkort b", "truck-kort", "lic-b", "svetsning")]
    ['lic-b', 'lic-b', 'lic-truck', 'lic-b', None]
    >>> dict(norm.unknown)
    {'svetsning': 1}
    """

    def __init__(self, entries: Iterable[tuple[str, str]], *, cutoff: float = FUZZY_CUTOFF) -> None:
        self.cutoff = cutoff
        self._exact: dict[str, str] = {}
        spaced: dict[str, str] = {}
        codes: set[str] = set()
        #: A readable label per code: the first label given for it.
        self.labels: dict[str, str] = {}
        for label, code in entries:
            codes.add(code)
            self.labels.setdefault(code, label)
            for text in (label, code):
                self._exact.setdefault(compact_key(text), code)
                spaced.setdefault(spaced_key(text), code)
        self.codes: frozenset[str] = frozenset(codes)
        self._spaced_choices = list(spaced)
        self._spaced_codes = list(spaced.values())
        self._compact_choices = [key.replace(" ", "") for key in self._spaced_choices]
        self._cache: dict[str, str | None] = {}
        self.unknown: Counter[str] = Counter()
        self.fuzzy_matches: dict[str, str] = {}

    @classmethod
    def from_vocabulary(cls, vocabulary: Vocabulary, *, cutoff: float = FUZZY_CUTOFF) -> CompetenceNormaliser:
        """Build the normaliser from a vocabulary's labels and variants (``all_labels()``)."""
        return cls(vocabulary.all_labels(), cutoff=cutoff)

    def normalise(self, label: str) -> str | None:
        """The concept code of ``label``, or ``None`` when no concept matches (then counted).

        Parameters
        ----------
        label
            A free-text label or a concept code.

        Returns
        -------
        str or None
            The concept code.
        """
        if label in self._cache:
            code = self._cache[label]
        else:
            code = self._match(label)
            self._cache[label] = code
        if code is None:
            self.unknown[label] += 1
        return code

    def concept_of(self, label: str) -> str:
        """The concept code of ``label``, or its pseudo-concept ``"?" + spaced key`` when unknown.

        Two unknown labels with the same key ("Svetsning", "svetsning ") get the same
        pseudo-concept, so they still match each other exactly.

        Examples
        --------
        >>> CompetenceNormaliser([]).concept_of("Svets-ning")
        '?svets ning'
        """
        code = self.normalise(label)
        return code if code is not None else UNKNOWN_PREFIX + spaced_key(label)

    def _match(self, label: str) -> str | None:
        compact = compact_key(label)
        if not compact:
            return None
        exact = self._exact.get(compact)
        if exact is not None or len(compact) < MIN_FUZZY_LENGTH or not self._spaced_choices:
            return exact
        best_score = -1.0
        found: set[str] = set()
        for query, choices, scorer in (
            (spaced_key(label), self._spaced_choices, fuzz.token_sort_ratio),
            (compact, self._compact_choices, fuzz.ratio),
        ):
            # Two hits, so that a tie between two different concepts is seen as ambiguous.
            for _, score, position in process.extract(
                query, choices, scorer=scorer, score_cutoff=self.cutoff, limit=2
            ):
                code = self._spaced_codes[position]
                if score > best_score:
                    best_score, found = score, {code}
                elif score == best_score:
                    found.add(code)
        if len(found) != 1:
            return None  # nothing close enough, or two concepts equally close
        code = found.pop()
        self.fuzzy_matches[label] = code
        return code
