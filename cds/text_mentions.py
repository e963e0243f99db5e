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
