"""The function lists of a comparison: each side's profile of a case found, read and diffed.

A verdict's instruction case that is slower or faster gets its list (``explained``); `linreg
explain` asks for any case's (``explain_case``). Where a side kept no profile (counted before
linreg kept them, or Valgrind's tools are missing here) the case says why instead: the verdict
stands on its counts either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from linreg.compare.explain import TOP, FunctionChanges, function_changes
from linreg.compare.pairing import match_sessions
from linreg.errors import ResultSetError
from linreg.results.bench_sessions import BenchSession
from linreg.results.profiles import FunctionTable, ProfileError, case_profile, read_profile
from linreg.results.resultset import load_result_set
from linreg.results.speed_verdict import FASTER, INSTRUCTIONS, SLOWER, CaseVerdict


@dataclass(frozen=True)
class CaseExplanation:
    """One case's function list between two sessions, with what it was read from."""

    case: str
    reference: str  # the sessions, as a comparison names them
    candidate: str
    reference_per_call: float  # instructions per call, from the profiles
    candidate_per_call: float
    changes: FunctionChanges

    @property
    def ratio(self) -> float:
        return self.candidate_per_call / self.reference_per_call


def session_profile(session: BenchSession, case: str) -> tuple[Path, int] | None:
    """The case's profile in the session (the process that counted it) and its calls."""
    for file in session.files:
        for stored in file.cases:
            if stored.fullname == case:
                found = case_profile(file.path, stored)
                if found is not None:
                    return found
    return None


def case_tables(
    reference: BenchSession, candidate: BenchSession, case: str
) -> tuple[FunctionTable, FunctionTable]:
    """Both sides' function tables of the case; ProfileError saying which side has none."""
    tables = []
    for role, session in (("reference", reference), ("candidate", candidate)):
        found = session_profile(session, case)
        if found is None:
            raise ProfileError(f"the {role} ({session.label}) kept no profile of {case}")
        tables.append(read_profile(*found))
    return tables[0], tables[1]


def with_functions(case: CaseVerdict, reference: BenchSession, candidate: BenchSession):
    """The case with its function list, or with why there is none."""
    try:
        ref, cand = case_tables(reference, candidate, case.case)
    except ProfileError as exc:
        return dataclasses.replace(case, functions_note=f"no function list: {exc}")
    changes = function_changes(ref, cand)
    return dataclasses.replace(case, functions=changes.functions, functions_note=changes.note)


def explained(
    cases: Iterable[CaseVerdict], reference: BenchSession, candidate: BenchSession
) -> list[CaseVerdict]:
    """The cases, each instruction case that is slower or faster with its function list."""
    return [
        with_functions(c, reference, candidate)
        if c.metric == INSTRUCTIONS and c.outcome in (SLOWER, FASTER)
        else c
        for c in cases
    ]


def explain_case(
    reference_path: str | Path, candidate_path: str | Path, case: str, top: int = TOP
) -> CaseExplanation:
    """Any case's function list between two result sets (as `linreg compare` reads them: a
    folder means its newest session per machine). ``case``: a full case id, its name after
    "::", or a part of it that names one case alone. ResultSetError (ProfileError) names what
    is missing."""
    reference, candidate = load_result_set(reference_path), load_result_set(candidate_path)
    pairs, _ = match_sessions(reference, candidate)
    if not pairs:
        raise ResultSetError(f"{reference_path} vs {candidate_path}: no benchmark session of "
                             "one machine on both sides")  # fmt: skip
    if len(pairs) > 1:
        machines = ", ".join(ref.machine for ref, _ in pairs)
        raise ResultSetError(f"sessions of several machines on both sides ({machines}): give "
                             "one machine's folder or files")  # fmt: skip
    ref_session, cand_session = pairs[0]
    name = resolve_case(case, _counted(ref_session) & _counted(cand_session))
    ref, cand = case_tables(ref_session, cand_session, name)
    return CaseExplanation(name, ref_session.label, cand_session.label,
                           ref.total / ref.calls, cand.total / cand.calls,
                           function_changes(ref, cand, top))  # fmt: skip


def _counted(session: BenchSession) -> set[str]:
    return {c.fullname for f in session.files for c in f.cases if "instructions" in c.extra_info}


def resolve_case(given: str, names: set[str]) -> str:
    """The one case ``given`` names among ``names``: itself, the name after "::", or a part
    that only one holds. ResultSetError listing the choices otherwise."""
    for exact in (
        [n for n in names if n == given],
        [n for n in names if n.rsplit("::", 1)[-1] == given],
        [n for n in names if given in n],
    ):
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            listed = ", ".join(sorted(exact))
            raise ResultSetError(f"case {given!r} names {len(exact)} cases: {listed}")
    listed = ", ".join(sorted(names)) or "none"
    raise ResultSetError(f"no case {given!r} counted on both sides (counted on both: {listed})")
