"""What one run of the bench/ suite is asked to do, and the one place that turns it into a child
pytest's options and environment. bench/conftest.py reads the same names back.

Every runner of the suite (`linreg bench`, `linreg run`, `linreg ab`, `linreg bisect`,
`linreg gpu-run`) builds a ``BenchRequest``; none spells an option or a variable itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from linreg.suites.bench_selection import BenchSelection

# The environment between a runner and bench/conftest.py: the session and process index each
# child records (so a comparison takes one sample per process and knows which belong
# together), and "0" in the processes of a session after its first (instruction counts are
# deterministic: one process counts; each count costs Valgrind's start-up with torch).
SESSION_VARIABLE = "LINREG_BENCH_SESSION"
PROCESS_VARIABLE = "LINREG_BENCH_PROCESS"
COUNT_VARIABLE = "LINREG_BENCH_INSTRUCTIONS"
# --instructions: 'auto' counts for the quick profile (the one that gates).
INSTRUCTION_MODES = ("auto", "yes", "no")
# Plugins that installed test tools register and a bench session never uses. Hypothesis's
# imports the whole library at the session's end to print its statistics (0.85 s here, on the
# path between the last count and `linreg run`'s verdict); blocking a plugin that is not
# installed is not an error.
UNUSED_PLUGINS = ("hypothesispytest",)


@dataclass(frozen=True)
class BenchRequest:
    """The cases (``selection``), the thread count every case runs with (an integer as text,
    'all', or None for the profile's own: 1 for --quick), instruction counting ('auto', 'yes',
    'no', and which cases alone where ``instructions_only`` names them) and the machine name
    results are stored under (None: from the CPU and GPU models)."""

    selection: BenchSelection
    threads: str | None = None
    instructions: str = "auto"
    instructions_only: tuple[str, ...] = ()
    machine: str | None = None

    def __post_init__(self) -> None:
        if self.instructions not in INSTRUCTION_MODES:
            raise ValueError(f"instructions must be one of {', '.join(INSTRUCTION_MODES)}")

    def pytest_args(self) -> list[str]:
        """The suite's own options (bench/conftest.py) that ask for this, after the plugins a
        bench session blocks."""
        s = self.selection
        args = [arg for plugin in UNUSED_PLUGINS for arg in ("-p", f"no:{plugin}")]
        args += [
            f"--devices={','.join(s.devices)}",
            f"--dtypes={','.join(s.dtypes)}",
            f"--seeds={','.join(map(str, s.seeds))}",
            f"--engines={','.join(s.engines)}",
            f"--kinds={','.join(s.kinds)}",
        ]
        if s.sizes:
            args.append(f"--sizes={','.join(map(str, s.sizes))}")
        if s.optimizer_settings() != [("sgd", 0.0)]:
            args.append(f"--optimizers={','.join(s.optimizers)}")
            args.append(f"--momentums={','.join(map(str, s.momentums))}")
        if s.quick:
            args.append("--quick")
        if s.target is not None:
            args.append(f"--target={s.target}")
            args.append(f"--target-size={s.target_size}")
        if self.threads is not None:
            args.append(f"--threads={self.threads}")
        if self.instructions != "auto":
            args.append(f"--instructions={self.instructions}")
        if self.instructions_only:
            args.append(f"--instructions-only={','.join(self.instructions_only)}")
        if self.machine is not None:
            args.append(f"--machine={self.machine}")
        return args


def process_env(
    base: Mapping[str, str], session: str, process: int, count: bool = True
) -> dict[str, str]:
    """``base`` with the variables one process of a session records: its session, its index,
    and, where it must not count instructions (a session's processes after its first), that
    it must not. (``base`` may say so already: its word stands.)"""
    env = dict(base)
    env[SESSION_VARIABLE] = session
    env[PROCESS_VARIABLE] = str(process)
    if not count:
        env[COUNT_VARIABLE] = "0"
    return env
