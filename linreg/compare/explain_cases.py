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
from linreg.compare.op_inside import moved_inside
from linreg.compare.pairing import match_sessions
from linreg.compare.speed import case_ops
from linreg.compare.target_versions import align_versions
from linreg.errors import ResultSetError
from linreg.results.bench_sessions import BenchSession, session_samples
from linreg.results.op_changes import OpEvidence
from linreg.results.op_counts import OP_COUNTS_KEY
from linreg.results.profiles import FunctionTable, ProfileError, case_profile, read_profile
from linreg.results.resultset import load_result_set
from linreg.results.speed_verdict import FASTER, INSTRUCTIONS, SLOWER, CaseVerdict


@dataclass(frozen=True)
class CaseExplanation:
    """One case between two sessions: its op list and its function list, each with what it
    was read from, or why there is none (``ops_note``, ``functions_note``)."""

    case: str
    reference: str  # the sessions, as a comparison names them
    candidate: str
    reference_per_call: float | None  # instructions per call, from the profiles
    candidate_per_call: float | None
    changes: FunctionChanges | None
    functions_note: str = ""
    ops: OpEvidence | None = None
    ops_note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference_per_call is None or self.candidate_per_call is None:
            return None
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
    """The case with its function list, or with why there is none; where its ops are the same
    on both sides, with the op its instructions moved inside."""
    try:
        ref, cand = case_tables(reference, candidate, case.case)
    except ProfileError as exc:
        return dataclasses.replace(case, functions_note=f"no function list: {exc}")
    changes = function_changes(ref, cand)
    return dataclasses.replace(case, functions=changes.functions, functions_note=changes.note,
                               ops=with_moved_inside(case.ops, ref, cand))  # fmt: skip


def with_moved_inside(
    ops: OpEvidence | None, reference: FunctionTable, candidate: FunctionTable
) -> OpEvidence | None:
    """``ops`` naming the op whose instructions moved most, where the ops are the same on two
    sides of one stack (where ops changed, the changed ops are the explanation)."""
    if ops is None or not ops.same or ops.stack_differences:
        return ops
    found = moved_inside(reference, candidate, ops.op_names)
    if found is None:
        return ops
    return dataclasses.replace(ops, moved_inside=found[0], moved_inside_per_call=found[1])


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
    """Any case's op list and function list between two result sets (as `linreg compare`
    reads them: a folder means its newest session per machine). ``case``: a full case id, its
    name after "::", or a part of it that names one case alone, among those both sides counted
    (instructions or ops). ResultSetError (ProfileError) names what is missing where a side
    kept neither its profile nor its ops."""
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
    cand_session, versions = align_versions(ref_session, cand_session)  # a target's two versions
    cand_label = "; ".join((cand_session.label, *versions))
    both = (_counted(ref_session) & _counted(cand_session)) | (
        _ops_counted(ref_session) & _ops_counted(cand_session)
    )
    name = resolve_case(case, both)
    ref_samples = session_samples(ref_session).get(name)
    cand_samples = session_samples(cand_session).get(name)
    ops = case_ops(ref_samples, cand_samples)
    ops_note = "" if ops is not None else _ops_missing(ref_session, cand_session, name)
    try:
        ref, cand = case_tables(ref_session, cand_session, name)
    except ProfileError as exc:
        if ops is None:
            raise
        return CaseExplanation(name, ref_session.label, cand_label, None, None, None,
                               f"no function list: {exc}", ops, ops_note)  # fmt: skip
    changes = function_changes(ref, cand, top)
    return CaseExplanation(name, ref_session.label, cand_label,
                           ref.total / ref.calls, cand.total / cand.calls, changes,
                           changes.note, with_moved_inside(ops, ref, cand), ops_note)  # fmt: skip


def _counted(session: BenchSession) -> set[str]:
    return {c.fullname for f in session.files for c in f.cases if "instructions" in c.extra_info}


def _ops_counted(session: BenchSession) -> set[str]:
    return {c.fullname for f in session.files for c in f.cases if OP_COUNTS_KEY in c.extra_info}


def _ops_missing(reference: BenchSession, candidate: BenchSession, case: str) -> str:
    """Why a case has no op list: which side counted no ops of it."""
    missing = [
        f"the {role} ({session.label})"
        for role, session in (("reference", reference), ("candidate", candidate))
        if case not in _ops_counted(session)
    ]
    return f"no op list: {' and '.join(missing)} counted no ops of {case}"


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
