"""bench/'s modules in a test: bench/ is not a package, so it is on sys.path for as long as the
fixture that imports them lasts, and gone after it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


@contextmanager
def bench_on_path() -> Iterator[Path]:
    sys.path.insert(0, str(BENCH))
    try:
        yield BENCH
    finally:
        sys.path.remove(str(BENCH))
