"""Two versions of a target's bench cases, compared as asked and said so.

A target case's id holds its code hash (``target_step[mlp-3f9a1c2b4d5e-ci-cpu-...]``), so two
sessions of two versions of a target share no case and a comparison of them pairs nothing by
itself: a changed target is never compared with the old one silently. Where a user compares two
such sessions (`linreg compare OLD NEW`, `linreg explain`), the cases are paired by their id
without the hash and the verdict's notes say "another version of the target", with both hashes.
The gate of `linreg run --target` never does this: it reads this version's baseline alone.
"""

from __future__ import annotations

import dataclasses
import re

from linreg.results.bench_sessions import BenchSession

# bench_target.py::bench_target_step[<name>-<12 hex>-<size>-<device>-...]
_TARGET_CASE = re.compile(
    r"^(?P<head>.*bench_target_\w+\[.+?)-(?P<hash>[0-9a-f]{12})-(?P<tail>.+\])$"
)


def versionless(fullname: str) -> tuple[str, str] | None:
    """(the case id without its code hash, the hash) of a target case; None for another case."""
    match = _TARGET_CASE.match(fullname)
    if match is None:
        return None
    return f"{match['head']}-{match['tail']}", match["hash"]


def _target_name(fullname: str) -> str:
    inside = fullname.split("[", 1)[1]
    return inside.rsplit("-", 1)[0].split("-")[0]


def align_versions(
    reference: BenchSession, candidate: BenchSession
) -> tuple[BenchSession, tuple[str, ...]]:
    """``candidate`` with each target case that the reference holds under another code hash
    renamed to the reference's id, and a note per target version pair; unchanged (no notes)
    where the sessions share their target cases or hold none."""
    ref_names = {c.fullname for f in reference.files for c in f.cases}
    by_key = {}
    for name in ref_names:
        found = versionless(name)
        if found is not None:
            by_key[found[0]] = (name, found[1])
    renamed: dict[str, str] = {}
    versions: dict[tuple[str, str, str], None] = {}
    for file in candidate.files:
        for case in file.cases:
            found = versionless(case.fullname)
            if found is None or case.fullname in ref_names or found[0] not in by_key:
                continue
            ref_name, ref_hash = by_key[found[0]]
            renamed[case.fullname] = ref_name
            name = str(case.extra_info.get("target") or _target_name(case.fullname))
            versions[(name, ref_hash, found[1])] = None
    if not renamed:
        return candidate, ()
    files = tuple(
        dataclasses.replace(file, cases=tuple(
            dataclasses.replace(case, fullname=renamed[case.fullname],
                                name=renamed[case.fullname].rsplit("::", 1)[-1])
            if case.fullname in renamed else case
            for case in file.cases
        ))
        for file in candidate.files
    )  # fmt: skip
    notes = tuple(
        f"another version of the target {name} (code hash {old} → {new}): its cases are "
        "compared as asked, by their ids without the hash, not as the same target"
        for name, old, new in versions
    )
    return dataclasses.replace(candidate, files=files), notes


def version_notes(case_names: list[str]) -> list[str]:
    """A sentence per target whose cases hold more than one code hash: each version's cases are
    series of their own, so no step is measured across a change of the target's code."""
    hashes: dict[str, dict[str, None]] = {}
    for name in sorted(case_names):
        found = versionless(name)
        if found is not None:
            hashes.setdefault(_target_name(name), {})[found[1]] = None
    return [
        f"The target {target} ran as {len(versions)} versions (code hashes "
        f"{', '.join(versions)}): a new hash starts a new series, so no step is measured "
        "across a change of the target's code."
        for target, versions in sorted(hashes.items())
        if len(versions) > 1
    ]
