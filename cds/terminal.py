"""Text from EHR requests made safe to print at a terminal (`check`, `feedback-summary`)."""

from __future__ import annotations

import unicodedata

_KEPT_CONTROLS = frozenset("\n\t")


def printable(text: str) -> str:
    """`text` without control and format characters (ANSI escape sequences, C1 controls such as
    CSI, bidirectional overrides): values stored from EHR requests must not drive a terminal."""
    return "".join(
        c for c in text if c in _KEPT_CONTROLS or unicodedata.category(c) not in ("Cc", "Cf")
    )
