"""Phrases named in free text, unless a negation in the same sentence takes them back.

Shared by the neonate check (a preservative bag named in an order's text) and the problem-list
reader (a pregnancy named in a Condition's words): one matcher, so "not", "r/o" and a sentence's
end mean the same thing in both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=64)
def mention_pattern(
    phrases: tuple[str, ...], before: tuple[str, ...], after: tuple[str, ...]
) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(a mention of one of `phrases`, a negation of `before` ending just before a mention, a
    negation of `after` starting just after one), all on lower-case text. Cached: the lists come
    from the knowledge and every order or Condition of a call is matched against them."""

    def alternatives(words: Sequence[str]) -> str:
        return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len)[::-1])

    mention = re.compile(rf"(?<![a-z0-9])(?:{alternatives(phrases)})(?![a-z0-9])")
    # A negation reaches the mention only inside its sentence: the words between (at most two;
    # a period only inside a number, "0.9%") and the gaps never hold . ; ! ? or a line break, so
    # "Do not flush. Bacteriostatic saline bag." names the preservative bag.
    gap, word = r"[^a-z0-9.;!?\r\n]", r"(?:[a-z0-9%]|(?<=[0-9])\.(?=[0-9]))+"
    negated_before = re.compile(
        rf"(?<![a-z0-9])(?:{alternatives(before) or '(?!)'})(?:{gap}+{word}){{0,2}}{gap}*\Z"
    )
    negated_after = re.compile(rf"[ \t-]*(?:{alternatives(after) or '(?!)'})(?![a-z0-9])")
    return mention, negated_before, negated_after


class DrugNames:
    """Whether free text names a drug as the one an order is for: "BLINCYTO 28 mcg/day" does;
    "dexamethasone 20 mg - premedication for blinatumomab" names it only as the drug another
    order is given for. A name counts unless a referring word stands just before it (up to two
    words between, no punctuation: "1 hour before the blinatumomab") or just after it
    ("blinatumomab premedication"). Names match anywhere, as a substring ("blinatumomabinj")."""

    def __init__(self, names: Sequence[str], before: Sequence[str], after: Sequence[str]) -> None:
        def alternatives(words: Sequence[str]) -> str:
            escaped = (re.escape(w.lower()).replace(r"\ ", r"\s+") for w in words)
            return "|".join(sorted(escaped, key=len, reverse=True)) or "(?!)"

        self._names = re.compile(alternatives(names)) if names else None
        self._before = re.compile(
            rf"(?<![a-z0-9])(?:{alternatives(before)})(?:[\s-]+[a-z0-9]+){{0,2}}[\s-]*\Z"
        )
        self._after = re.compile(rf"[\s-]*(?:{alternatives(after)})(?![a-z0-9])")

    def named_in(self, text: str) -> bool:
        """`text`, lower case: does it name the drug other than as another order's purpose?"""
        if self._names is None:
            return False
        return any(
            not self._before.search(text, 0, found.start())
            and not self._after.match(text, found.end())
            for found in self._names.finditer(text)
        )
