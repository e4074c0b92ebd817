"""The panel of an A/B's report (`linreg ab`, `nox -s ab`): the A/B's own three answers.

Reproduces? is the cross-stack comparison, each run of the candidate's repro matrix against the
same config's run in the reference's (ab.json's numeric verdict); each stack's own checks are a
line. How fast? is each case, candidate against reference, with the speed verdict's ratios and
outcomes. Regressed? is the speed verdict itself. The sides are named by their series (what
differs between them: "torch 2.13.0", "torch 2.14.1"), never by a file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from linreg.compare.runs import LEVELS
from linreg.report.answer import FAIL, INFO, NONE, PASS, Answer, Line
from linreg.report.checks import describe, reached_words
from linreg.report.regression import regressed_answer
from linreg.report.speed import labelled
from linreg.results.bench_file import case_parts
from linreg.suites.ab import ROLES
from linreg.units import missing, percent, ratio, seconds, sig

# Runs that differ named in the panel; every pair is in the A/B section below.
MAX_PAIRS = 3
NBSP = "\u00a0"


class _Inputs(Protocol):
    checks: list[tuple[str, dict[str, Any]]]
    bench: pd.DataFrame | None
    speed_verdicts: list[tuple[str, dict[str, Any]]]
    machines: list[str]
    ab_results: list[tuple[Path, dict[str, Any]]]
    repro_folders: dict[str, Path]


def ab_verdicts(
    inputs: _Inputs,
    names: Mapping[str, str],
    case_labels: Mapping[str, str],
    answers: Sequence[Answer],
) -> tuple[Answer, Answer, Answer]:
    """The first A/B's answers; ``answers`` are the report's own, kept where the A/B has none
    (no benchmark processes finished: no speed verdict)."""
    path, ab = inputs.ab_results[0]
    speed = ab_speed_verdict(ab, inputs.speed_verdicts)
    sides = side_names(ab, speed, names)
    failures = [str(f) for f in ab.get("failures", [])]
    reproduces = _with_failures(
        ab_reproduces(path.parent, ab, inputs.checks, inputs.repro_folders, sides),
        [f for f in failures if "repro" in f],
    )
    bench_failures = [f for f in failures if "repro" not in f]
    if speed is None:
        why = "the A/B wrote no speed verdict (its benchmark processes gave no sessions)"
        how_fast = _with_failures(answers[1], bench_failures)
        regressed = _with_failures(Answer("Regressed?", NONE, f"Not judged: {why}"), bench_failures)
        return reproduces, how_fast, regressed
    how_fast = _with_failures(ab_speed(speed, inputs.bench, sides, case_labels), bench_failures)
    regressed = regressed_answer([(str(path), speed)], inputs.machines, names, (), case_labels)
    return reproduces, how_fast, regressed


def ab_speed_verdict(
    ab: dict[str, Any], speed_verdicts: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, Any] | None:
    speed = ab.get("speed")
    if speed is None:
        return None
    sides = (speed["reference"], speed["candidate"])
    found = [v for _, v in speed_verdicts if (v["reference"], v["candidate"]) == sides]
    return found[0] if found else speed


def side_names(
    ab: dict[str, Any], speed: dict[str, Any] | None, names: Mapping[str, str]
) -> dict[str, str]:
    """Each role's name: its series in the report, else what its stack says of itself."""
    stacks = ab.get("stacks", {})
    found = {}
    for role in ROLES:
        name = names.get(speed[role]) if speed else None
        torch = stacks.get(role, {}).get("torch")
        found[role] = name or (f"{role} (torch {torch})" if torch else role)
    if found["reference"] == found["candidate"]:
        found = {role: f"{role} ({name})" for role, name in found.items()}
    return found


def _with_failures(answer: Answer, failures: Sequence[str]) -> Answer:
    if not failures:
        return answer
    lines = tuple(Line(f"✗ {failure}", FAIL) for failure in failures)
    return Answer(answer.question, FAIL, answer.headline, (*lines, *answer.lines), answer.table,
                  answer.link)  # fmt: skip


def ab_reproduces(
    folder: Path,
    ab: dict[str, Any],
    checks: Sequence[tuple[str, dict[str, Any]]],
    repro_folders: Mapping[str, Path],
    sides: Mapping[str, str],
) -> Answer:
    question = "Reproduces?"
    reference, candidate = sides["reference"], sides["candidate"]
    numeric = ab["numeric"]
    pairs = numeric.get("pairs", [])
    own = _own_checks(folder, checks, repro_folders, sides)
    own_lines = (own,) if own is not None else ()
    own_status = FAIL if own is not None and own.status == FAIL else None
    if not pairs:
        why = {
            "not run": "the A/B ran no repro matrix",
            "no run in common": "the two repro matrices have no run in common",
        }.get(numeric["verdict"], numeric["verdict"])
        return Answer(question, own_status or NONE, f"Not compared across the stacks: {why}",
                      own_lines)  # fmt: skip
    worst = max((p["level"] for p in pairs), key=LEVELS.index)
    differ = sorted((p for p in pairs if p["level"] != "a"),
                    key=lambda p: (-LEVELS.index(p["level"]), p["run"]))  # fmt: skip
    n = len(pairs)
    if worst == "a":
        status = PASS
        headline = (
            f"Yes: bit-identical: {candidate} and {reference} agree bit for bit in all {n} runs"
        )
    elif worst == "d":
        ending = [p for p in pairs if p["level"] == "d"]
        status = FAIL
        headline = (f"No: {len(ending)} of {n} runs end differently with {candidate} than with "
                    f"{reference}")  # fmt: skip
    else:
        status = INFO
        headline = (
            f"Not bit-identical: {len(differ)} of {n} runs differ between {candidate} and "
            f"{reference}; the worst is {_level_words(differ[0])}"
        )
    lines = [
        Line(f"{p['run']}: {_level_words(p)}", FAIL if p["level"] == "d" else "", _pair_figures(p))
        for p in differ[:MAX_PAIRS]
    ]
    if len(differ) > MAX_PAIRS:
        lines.append(Line(f"… and {len(differ) - MAX_PAIRS} more runs that differ", link="ab"))
    if own_status == FAIL:
        status = FAIL
    return Answer(question, status, headline, (*lines, *own_lines), link="ab")


def _level_words(pair: dict[str, Any]) -> str:
    return reached_words({"level": pair["level"], "horizon": pair.get("horizon")})


def _pair_figures(pair: dict[str, Any]) -> str:
    parts = []
    if pair.get("first_bitwise_difference_epoch") is not None:
        parts.append(f"first difference at epoch {pair['first_bitwise_difference_epoch']}")
    weights = pair.get("final_weight")
    if isinstance(weights, list) and len(weights) == 2:
        parts.append(f"final weight {sig(weights[1], 6)} against {sig(weights[0], 6)}")
    return "; ".join(parts)


def _own_checks(
    folder: Path,
    checks: Sequence[tuple[str, dict[str, Any]]],
    repro_folders: Mapping[str, Path],
    sides: Mapping[str, str],
) -> Line | None:
    """Each stack's own repro checks (determinism, consistency) in one line."""
    said, failing = [], []
    for role in ROLES:
        root = folder / role
        own = [describe(check, name) for name, check in checks
               if name in repro_folders and repro_folders[name].is_relative_to(root)]  # fmt: skip
        if not own:
            continue
        holding = sum(t.holds for t in own)
        said.append(f"{sides[role]} {holding} of {len(own)} hold")
        failing += [f"{sides[role]}: {t.title}" for t in own if not t.holds]
    if not said:
        return None
    text = "Each stack's own checks: " + "; ".join(said)
    return Line(text, FAIL if failing else "", "; ".join(failing[:2]), link="checks")


def ab_speed(
    verdict: dict[str, Any],
    bench: pd.DataFrame | None,
    sides: Mapping[str, str],
    case_labels: Mapping[str, str],
) -> Answer:
    """Each case, candidate against reference: both medians, and each metric's ratio with the
    outcome the speed verdict earned for it."""
    question = "How fast?"
    reference, candidate = sides["reference"], sides["candidate"]
    by_metric: dict[str, dict[str, dict[str, Any]]] = {"wall": {}, "instructions": {}}
    for case in verdict.get("cases", []):
        by_metric[case["metric"]][case["case"]] = case
    ids = _in_reading_order(list(dict.fromkeys(c["case"] for c in verdict.get("cases", []))),
                            bench)  # fmt: skip
    rows = _rows_of(bench, verdict)
    table = pd.DataFrame(
        [
            {
                "case": case_labels.get(case, case),
                reference: _median(rows.get(("reference", case)), by_metric, case, "reference"),
                candidate: _median(rows.get(("candidate", case)), by_metric, case, "candidate"),
                "wall time": _outcome(by_metric["wall"].get(case)),
                "instructions": _outcome(by_metric["instructions"].get(case)),
            }
            for case in ids
        ]
    )
    if not table.empty and (table["instructions"] == "").all():
        table = table.drop(columns="instructions")
    headline = f"{candidate} against {reference}: " + _speed_clause(ids, by_metric, case_labels)
    samples = next(
        (
            c["samples"]
            for c in verdict.get("cases", [])
            if c["metric"] == "wall" and c.get("samples")
        ),
        None,
    )
    machine = _machine_of(bench, verdict)
    where = (f"Same machine{f' ({machine})' if machine else ''}" if verdict.get("same_machine")
             else "Different machines: information, not a verdict")  # fmt: skip
    note = f"{where}, {samples[0]} vs {samples[1]} processes" if samples else where
    if verdict.get("interleaved"):
        note += ", interleaved A B A B"
    note += "; ratios are candidate ÷ reference (below 1: faster)"
    return Answer(question, INFO, headline, (Line(note),), table=table, link="regression-0")


def _machine_of(bench: pd.DataFrame | None, verdict: dict[str, Any]) -> str:
    if bench is None or bench.empty:
        return ""
    mine = bench[bench["session"] == verdict["reference"]]
    return str(mine["machine"].iloc[0]) if not mine.empty else ""


def _in_reading_order(ids: list[str], bench: pd.DataFrame | None) -> list[str]:
    if bench is None or bench.empty:
        return ids
    order = list(dict.fromkeys(labelled(bench)["fullname"].astype(str)))
    rank = {name: i for i, name in enumerate(order)}
    return sorted(ids, key=lambda name: rank.get(name, len(rank)))


def _rows_of(
    bench: pd.DataFrame | None, verdict: dict[str, Any]
) -> dict[tuple[str, str], pd.Series]:
    """The bench rows of the verdict's two sessions, by (role, case id)."""
    if bench is None or bench.empty:
        return {}
    rows = {}
    for role in ROLES:
        mine = bench[bench["session"] == verdict[role]]
        for _, row in mine.iterrows():
            rows[(role, str(row["fullname"]))] = row
    return rows


def _median(
    row: pd.Series | None, by_metric: dict[str, dict[str, dict[str, Any]]], case: str, role: str
) -> str:
    if row is not None:
        spread = "" if missing(row.get("iqr_s")) else f" ± {seconds(float(row['iqr_s']) / 2, 2)}"
        text = f"{seconds(row['median_s'])}{spread}"
    else:
        wall = by_metric["wall"].get(case)
        text = seconds(wall[role]) if wall and wall.get(role) is not None else ""
    return text.replace(" ", NBSP)  # "108 ms ± 1.4 ms" on one line


def _outcome_word(case: dict[str, Any]) -> str:
    if case["outcome"] == "no change" and case.get("threshold") is not None:
        return f"no change beyond {percent(case['threshold'])}"
    return str(case["outcome"])


def _outcome(case: dict[str, Any] | None) -> str:
    if case is None:
        return ""
    figure = case.get("ratio")
    word = _outcome_word(case).replace(" %", f"{NBSP}%")
    if figure is None or (isinstance(figure, float) and math.isnan(figure)):
        return word
    return f"{ratio(figure)} {word}"


def _speed_clause(
    ids: list[str],
    by_metric: dict[str, dict[str, dict[str, Any]]],
    case_labels: Mapping[str, str],
) -> str:
    """The tutorial's run in wall time where it was measured, else the number of cases."""
    train = next((c for c in ids if case_parts(c)[0] == "train" and c in by_metric["wall"]), None)
    n = len(ids)
    cases = f"{n} case{'s' if n != 1 else ''} compared"
    if train is None:
        return cases + "."
    case = by_metric["wall"][train]
    took = f"{seconds(case['candidate'])} against {seconds(case['reference'])}"
    return (
        f"the tutorial's 500 epochs {ratio(case['ratio'])} in wall time ({took}, "
        f"{_outcome_word(case)}); {cases}."
    )
