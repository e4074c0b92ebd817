"""What every worker process of a suite does around its work: the usage line, SIGTERM turned
into an exception the work's writers clean up after, and one exit code per ending."""

from __future__ import annotations

import sys
from collections.abc import Callable

from linreg.errors import LinregError
from linreg.signals import Terminated, sigterm_raises


def worker_main(module: str, usage: str, argv: list[str], counts: tuple[int, ...],
                work: Callable[[list[str]], None]) -> int:  # fmt: skip
    """Run ``work(argv)``: 0 done, 1 a LinregError (its line on stderr), 2 wrong arguments,
    143 SIGTERM, 130 Ctrl-C (which reaches the whole process group: the parent reports it)."""
    if len(argv) not in counts:
        print(f"usage: python -m {module} {usage}", file=sys.stderr)
        return 2
    try:
        with sigterm_raises():
            work(argv)
    except LinregError as exc:
        print(f"{module}: {exc}", file=sys.stderr)
        return 1
    except Terminated:
        return 143
    except KeyboardInterrupt:
        return 130
    return 0
