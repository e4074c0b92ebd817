"""How a linreg process that imported torch ends: its objects frozen first.

At exit the interpreter's last collections walk every object still alive, and torch (with
torch._dynamo) leaves about a million: 0.73 s of each such process's end on the 2-core VM
against 0.14 s frozen (`python -c 'import torch, torch._dynamo'`). Every command and every
repro, resume and replay worker paid it; `linreg run` paid it twice on its critical path, in the
command and in its bench session (which bench/conftest.py freezes likewise). Frozen objects are
still freed by reference counting as modules are cleared, and atexit handlers still run; only
objects in reference cycles are left to the operating system, which takes back the memory anyway.
"""

from __future__ import annotations

import gc
import sys
from typing import NoReturn


def exit_process(code: int) -> NoReturn:
    """``sys.exit(code)`` for a process's main module, after ``gc.freeze()``."""
    gc.freeze()
    sys.exit(code)
