"""What the report calls a set of measurements: a benchmark session (the processes of one
`linreg bench --processes N`, or one side of an A/B), named by what tells it from the others.

A name says only what differs between the sessions in the inputs, in the order a reader asks:
the machine, whether it is a committed baseline, the stack (torch, Python, linreg's commit), an
A/B's side, then when it started. The two sides of an A/B on one machine are "torch 2.13.0" and
"torch 2.14.1" (an A/A's, "amd-epyc-2c reference" and "amd-epyc-2c candidate"); three machines'
histories are "machine-1 2026-06-01 00:00" …; one session alone is its machine.
Never a file name: a reader compares stacks and times, not paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from linreg.results.bench_sessions import BenchSession
from linreg.suites.ab import ROLES


def is_baseline_file(path: str | Path) -> bool:
    """A committed baseline lives under results/baselines/<machine>/ (linreg bench --baseline)."""
    return "baselines" in Path(path).parts


def is_baseline(session: BenchSession) -> bool:
    return any(is_baseline_file(f.path) for f in session.files)


def _ab_side(session_id: str) -> str:
    """An A/B's side, as `linreg ab` names each side's session: '<time>-reference'."""
    return next((role for role in ROLES if session_id.endswith(f"-{role}")), "")


def _env(session: BenchSession, key: str) -> str | None:
    value = session.files[0].environment.get(key)
    return value if isinstance(value, str) and value else None


def _word(prefix: str, key: str, length: int | None = None) -> Callable[[BenchSession], str]:
    def word(session: BenchSession) -> str:
        value = _env(session, key)
        return f"{prefix} {value[:length]}" if value else ""

    return word


@dataclass(frozen=True)
class _Key:
    name: str
    word: Callable[[BenchSession], str]
    stack: bool = False  # says what ran (torch, Python, code), not where or when


# In the order a name is read: where, what role, what stack, when.
_KEYS = (
    _Key("machine", lambda s: s.machine),
    _Key("baseline", lambda s: "baseline" if is_baseline(s) else ""),
    _Key("torch", _word("torch", "torch"), stack=True),
    _Key("python", _word("Python", "python"), stack=True),
    _Key("commit", _word("commit", "linreg_commit", 8), stack=True),
    _Key("side", lambda s: _ab_side(s.session)),
    _Key("date", lambda s: s.started[:16].replace("T", " ")),
    _Key("time", lambda s: s.started[:19].replace("T", " ")),
)


def series_names(sessions: Sequence[BenchSession]) -> list[str]:
    """One short, distinct name per session, from what differs between them."""
    words: list[dict[str, str]] = [{} for _ in sessions]

    def split(indices: list[int], keys: tuple[_Key, ...]) -> None:
        if len(indices) < 2:
            return
        for position, key in enumerate(keys):
            values = {i: key.word(sessions[i]) for i in indices}
            if len(set(values.values())) < 2:
                continue
            for i in indices:
                if values[i]:
                    words[i][key.name] = values[i]
                if key.name == "time":
                    words[i].pop("date", None)  # the time says the date too
            groups: dict[str, list[int]] = {}
            for i in indices:
                groups.setdefault(values[i], []).append(i)
            for group in groups.values():
                split(group, keys[position + 1 :])
            return
        # Nothing recorded tells them apart (copies of one session): number them.
        for number, i in enumerate(sorted(indices, key=lambda i: sessions[i].session), start=1):
            words[i]["number"] = f"#{number}"

    split(list(range(len(sessions))), _KEYS)
    # Names that do not all say a stack need their machine: "amd-epyc-2c baseline", not
    # "baseline"; and then each of them, so that a run and its baseline read alike.
    stacks = {k.name for k in _KEYS if k.stack}
    if not all(stacks & set(said) for said in words):
        words = [{"machine": s.machine, **said} for s, said in zip(sessions, words, strict=True)]
    return [" ".join(said.values()) for said in words]
