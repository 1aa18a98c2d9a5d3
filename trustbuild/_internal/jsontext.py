"""JSON text as trustbuild writes it (reports, locks): two-space indent, non-ASCII written as
itself, and always valid UTF-8.  A file name's undecodable bytes (held as lone surrogates)
are written as JSON ``\\udcXX`` escapes rather than failing the write."""

from __future__ import annotations

import json
from typing import Any


def dumps(document: Any) -> str:
    text = json.dumps(document, indent=2, ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
