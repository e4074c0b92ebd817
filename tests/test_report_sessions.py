"""A session is one series: an A/B's report answers the A/B in its first screen, a report of
hundreds of sessions names a few ratios under a whole sentence, the newest baseline is the one
compared with everywhere, and a case's figure is computed one way."""

import datetime as dt
import html
import json
import random
import re
import shutil
from pathlib import Path

import pytest

from linreg.compare.speed import judge_sessions
from linreg.report.build import build_report, collect_inputs
from linreg.report.comparisons import BASELINE, MAX_PANEL
from linreg.report.verdict import INFO, NONE, verdicts
from linreg.results import kinds
from linreg.results.ab_result import AbResult, StackInfo
from linreg.results.bench_sessions import sessions
from linreg.results.kinds import AB_FILE
from linreg.results.kinds import SPEED_VERDICT_FILE as SPEED_FILE
from linreg.results.load import load_bench
from linreg.suites.ab import _numeric_verdict
from tests.bench_sessions_data import fixture, many_sessions, process_file, write_session
from tests.browser import render, require_browser

MACHINE = "amd-epyc-2c"
START = dt.datetime(2026, 11, 29, 3, 14, tzinfo=dt.timezone.utc)
STACKS = {"reference": "2.13.0", "candidate": "2.14.1"}


def write_ab(root: Path, repro_set: Path, processes: int = 6) -> Path:
    """A folder as `linreg ab` writes it: each side's interleaved bench processes and repro set,
    ab.json and speed-verdict.json; the candidate's training 30 % slower, its instruction count
    25 % higher."""
    rng = random.Random(11)
    session = "20261129T031400000000Z"
    sides = {}
    for offset, (role, torch) in enumerate(STACKS.items()):
        slower = 1.3 if role == "candidate" else 1.0
        paths = write_session(
            root / role / "bench" / MACHINE / "Linux-CPython-3.11-64bit",
            machine=MACHINE,
            session=f"{session}-{role}",
            processes=processes,
            started=START + dt.timedelta(seconds=10 * offset),  # A B A B …
            rng=rng,
            torch=torch,
            scale={"train": slower},
            instructions={"train": 9.1e6 * (1.25 if slower > 1 else 1.0), "inference": 8.0e4},
        )
        (sides[role],) = sessions(load_bench(p) for p in paths)
        shutil.copytree(repro_set, root / role / "repro" / repro_set.name)
    speed = judge_sessions(sides["reference"], sides["candidate"])
    stacks = {
        role: StackInfo("3.11.7", torch, f"/envs/{role}/bin/python", "/work/linreg")
        for role, torch in STACKS.items()
    }
    result = AbResult(stacks, speed, _numeric_verdict(root), 460.0)
    (root / AB_FILE).write_text(json.dumps(kinds.envelope(kinds.AB, result.to_dict())))
    verdict = kinds.envelope(kinds.SPEED_VERDICT, speed.to_dict())
    (root / SPEED_FILE).write_text(json.dumps(verdict))
    return root


@pytest.fixture(scope="module")
def ab_folder(tmp_path_factory, repro_set) -> Path:
    return write_ab(tmp_path_factory.mktemp("results") / "ab-20261129T031400Z", repro_set)


def panel_of(page: str) -> str:
    """The verdict panel's text, tags stripped."""
    found = re.search(r"<section id=\"verdict\".*?</section>", page, re.S)
    assert found, "no verdict panel"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(0))).split())


def test_an_ab_report_answers_the_ab_in_the_first_viewport(ab_folder, tmp_path):
    require_browser()
    verdict = json.loads((ab_folder / SPEED_FILE).read_text())
    summary = build_report([ab_folder], tmp_path / "ab.html")
    page = render(summary.path, tmp_path / "ab.png")
    assert page.page_errors == [] and page.console_errors == []
    assert all(points > 0 for points in page.figures.values()), page.figures
    # All three answers, whole, in the first 1280×800.
    assert 0 < page.panel_bottom_px <= 800, page.panel_bottom_px
    seen = page.viewport_text
    pairs = len(json.loads((ab_folder / AB_FILE).read_text())["numeric"]["pairs"])
    assert (
        f"Reproduces? Yes: bit-identical: torch 2.14.1 and torch 2.13.0 agree bit for bit in all "
        f"{pairs} runs" in seen
    )
    # Two runs: determinism and checkpoint each, one dtype pair, one resume.
    assert "Each stack's own checks: torch 2.13.0 6 of 6 hold; torch 2.14.1 6 of 6 hold" in seen
    assert "How fast? torch 2.14.1 against torch 2.13.0: the tutorial's 500 epochs ×1.3" in seen
    assert "6 vs 6 processes, interleaved A B A B" in seen
    assert "Regressed?" in seen
    # The gate: the train case slower first, by wall time and by instructions; never green.
    assert verdict["verdict"] == "regressed"
    assert "Slower, reported without gating" in seen
    assert "slower: train cpu float32 eager seed 42" in seen
    text = summary.path.read_text()
    assert 'data-verdict="regressed" data-status="info"' in text
    panel = panel_of(text)
    assert "torch 2.13.0" in panel and "torch 2.14.1" in panel
    assert ".json" not in panel and "0001_" not in panel
    # One series per side, each the pool of its six processes.
    assert "6 processes" in text and "torch 2.14.1 ÷ torch 2.13.0" in text


def test_an_ab_says_which_runs_differ_across_the_stacks(ab_folder, tmp_path):
    folder = tmp_path / "ab"
    shutil.copytree(ab_folder, folder)
    record = json.loads((folder / AB_FILE).read_text())
    pair = record["numeric"]["pairs"][0]
    pair.update(level="c", level_name="outcome-equivalent", horizon=186,
                first_bitwise_difference_epoch=3)  # fmt: skip
    record["numeric"]["verdict"] = "c"
    (folder / AB_FILE).write_text(json.dumps(record))
    answers = verdicts(collect_inputs([folder]))
    reproduces = answers.reproduces
    assert reproduces.status == INFO
    assert reproduces.headline.startswith(
        f"Not bit-identical: 1 of {len(record['numeric']['pairs'])} runs differ between "
        "torch 2.14.1 and torch 2.13.0; the worst is within tolerance to epoch 186, then the "
        "same outcome"
    )
    assert reproduces.lines[0].text.startswith(pair["run"])
    assert "first difference at epoch 3" in reproduces.lines[0].detail


def test_a_session_of_several_processes_is_one_series(ab_folder):
    inputs = collect_inputs([ab_folder])
    bench = inputs.bench
    assert sorted(bench["series"].unique()) == ["torch 2.13.0", "torch 2.14.1"]
    assert (bench["processes"] == 6).all()
    assert len(bench) == 2 * bench["fullname"].nunique()
    # The figure is the median of the per-process medians: the speed verdict's own.
    verdict = json.loads((ab_folder / SPEED_FILE).read_text())
    train = next(c for c in verdict["cases"] if "train" in c["case"] and c["metric"] == "wall")
    row = bench[(bench["series"] == "torch 2.14.1") & (bench["kind"] == "train")].iloc[0]
    assert row["median_s"] == pytest.approx(train["candidate"], rel=1e-12)
    ratios = inputs.ratios
    assert set(ratios["comparison"]) == {"torch 2.14.1 ÷ torch 2.13.0"}


def test_many_sessions_name_a_few_ratios_under_a_whole_headline(tmp_path):
    folder = many_sessions(tmp_path / "bench", machines=3, sessions=200)
    inputs = collect_inputs([folder])
    assert inputs.bench["series"].nunique() == 600
    speed = verdicts(inputs).speed
    assert speed.headline.endswith("2 benchmark cases measured in 600 sessions on 3 machines.")
    assert len(speed.headline) < 200
    ratio_lines = [line for line in speed.lines if not line.link]
    assert len(ratio_lines) <= 4
    assert sum(" (between machines): " in line.text for line in ratio_lines) == 2
    assert any("(the largest change" in line.text for line in ratio_lines)
    more = speed.lines[-1]
    assert more.link == "ratios" and "more comparisons in the ratios table" in more.text
    assert len(speed.table) <= MAX_PANEL
    # Every comparison is in the table below: each machine's sessions one after another, and
    # each machine's newest against the first machine's.
    assert inputs.ratios["comparison"].nunique() == 3 * 199 + 2
    page = build_report([folder], tmp_path / "many.html").path.read_text()
    panel = panel_of(page)
    assert panel.count("geometric mean over") == len(ratio_lines)
    assert page.count('data-figure="timings"') == 1 and "The figures draw 8 of the 600" in page


def baseline_and_run(root: Path) -> Path:
    """A run of this machine beside its two committed baselines, 0001 and 0002."""
    base = fixture()
    folder = root / "baselines" / MACHINE / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    for number, factor in (("0001", 2.0), ("0002", 1.25)):
        started = START + dt.timedelta(days=int(number))
        data = process_file(base, machine=MACHINE, session=None, process=0, started=started,
                            scale={"*": factor})  # fmt: skip
        (folder / f"{number}_abc_20261129_0000{number[-1]}.json").write_text(json.dumps(data))
    run = root / "bench" / MACHINE
    run.mkdir(parents=True)
    data = process_file(base, machine=MACHINE, session="20261210T000000Z", process=0,
                        started=START + dt.timedelta(days=11))  # fmt: skip
    (run / "0001_def_20261210_000000.json").write_text(json.dumps(data))
    return root


def test_the_newest_baseline_is_compared_with_everywhere(tmp_path):
    root = baseline_and_run(tmp_path)
    inputs = collect_inputs([root / "bench", root / "baselines"])
    newest = inputs.plan.newest_baselines[MACHINE]
    assert newest == f"{MACHINE} baseline 2026-12-01 03:14"
    against = inputs.ratios[inputs.ratios["relation"] == BASELINE]
    assert set(against["reference"]) == {newest}
    assert against["ratio"].round(6).eq(0.8).all()  # 1 / 1.25: the run against 0002, not 0001
    answers = verdicts(inputs)
    assert all("2026-12-01" in line.text for line in answers.speed.lines if "÷" in line.text)
    assert answers.speed.table["vs baseline"].str.contains(f"against {newest}").all()
    # No speed verdict judged it: information, said as such, never "no baseline".
    regressed = answers.regressed
    assert regressed.status == INFO and "no baseline" not in regressed.headline.lower()
    assert regressed.headline.startswith("Not judged: no speed verdict in the inputs")
    assert any(newest in line.text and "×0.8" in line.text for line in regressed.lines)


def test_without_a_baseline_the_machine_is_named(tmp_path):
    inputs = collect_inputs([baseline_and_run(tmp_path) / "bench"])
    regressed = verdicts(inputs).regressed
    assert regressed.status == NONE
    assert regressed.headline == f"No baseline for machine {MACHINE}: nothing to judge against"


def copy_case(gb_per_s: float, roofline_gb_per_s: float) -> dict:
    """A copy case whose own figure (from its median time) and the session's copy bandwidth
    (measured once, before the first case) differ, as they do on a real machine."""
    case = json.loads(json.dumps(fixture()["benchmarks"][-1]))
    moved_bytes = 2 * 2**25 * 4
    median = moved_bytes / (gb_per_s * 1e9)
    case.update(name="bench_copy[cpu]", fullname="bench_epoch.py::bench_copy[cpu]")
    case["stats"].update(median=median, min=median * 0.99, max=median * 1.02, iqr=median * 0.01,
                         data=[median * 0.99, median, median * 1.02])  # fmt: skip
    case["extra_info"] = {"kind": "copy", "device": "cpu", "dtype": "float32", "size": 2**25,
                          "machine": MACHINE, "gb_per_s": gb_per_s,
                          "copy_gb_per_s": roofline_gb_per_s}  # fmt: skip
    return case


def test_copy_bandwidth_is_one_figure_per_case_per_series(tmp_path):
    data = fixture()
    data["benchmarks"].append(copy_case(44.7, 46.1))
    (tmp_path / "bench.json").write_text(json.dumps(data))
    inputs = collect_inputs([tmp_path / "bench.json"])
    table = verdicts(inputs).speed.table
    shown = table[table["case"].str.startswith("copy")]["per epoch / bandwidth"]
    assert list(shown) == ["44.7 GB/s"]
    page = build_report([tmp_path / "bench.json"], tmp_path / "r.html").path.read_text()
    assert "46.1 GB/s" not in page
    assert "44.7 GB/s" in page.split('<section id="timings">', 1)[1]


def named_sessions(*specs: tuple[str, str, str, str]) -> list[str]:
    """Series names of sessions given as (machine, torch, session id, start time)."""
    from linreg.report.series import series_names
    from linreg.results.bench_file import BenchFile
    from linreg.results.bench_sessions import BenchSession

    found = []
    for machine, torch, session, started in specs:
        info = {"linreg_machine": machine, "linreg_session": session,
                "linreg_environment": {"torch": torch, "python": "3.11.7"}}  # fmt: skip
        file = BenchFile(Path(f"/r/{session}.json"), info, (), started)
        found.append(BenchSession(machine, session, (file,)))
    return series_names(found)


@pytest.mark.parametrize(
    ("specs", "names"),
    [
        # One session: its machine.
        ([("m1", "2.13.0", "s1", "2026-11-29T03:14:00")], ["m1"]),
        # An A/B of two torch versions on one machine: what differs is the torch.
        (
            [("m1", "2.13.0", "t-reference", "2026-11-29T03:14:00"),
             ("m1", "2.14.1", "t-candidate", "2026-11-29T03:14:10")],
            ["torch 2.13.0", "torch 2.14.1"],
        ),
        # An A/A: the sides, with their machine.
        (
            [("m1", "2.13.0", "t-reference", "2026-11-29T03:14:00"),
             ("m1", "2.13.0", "t-candidate", "2026-11-29T03:14:10")],
            ["m1 reference", "m1 candidate"],
        ),
        # Two machines and two sessions of one of them: the machine, then the time.
        (
            [("m1", "2.13.0", "a", "2026-11-29T03:14:00"),
             ("m1", "2.13.0", "b", "2026-11-30T03:14:00"),
             ("m2", "2.13.0", "c", "2026-11-29T03:14:00")],
            ["m1 2026-11-29 03:14", "m1 2026-11-30 03:14", "m2"],
        ),
        # Started in the same minute: the second tells them apart.
        (
            [("m1", "2.13.0", "a", "2026-11-29T03:14:00"),
             ("m1", "2.13.0", "b", "2026-11-29T03:14:30")],
            ["m1 2026-11-29 03:14:00", "m1 2026-11-29 03:14:30"],
        ),
        # Copies of one session: numbered, never named by their files.
        (
            [("m1", "2.13.0", "a", "2026-11-29T03:14:00"),
             ("m1", "2.13.0", "b", "2026-11-29T03:14:00")],
            ["m1 #1", "m1 #2"],
        ),
    ],
)  # fmt: skip
def test_a_series_is_named_by_what_differs_between_the_sessions(specs, names):
    assert named_sessions(*specs) == names


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"numeric": {"verdict": "a", "pairs": [{"run": "x", "level": "e"}]}}, "level a-d"),
        ({"stacks": []}, "stacks must be"),
        ({"speed": {"verdict": "maybe"}}, "missing 'reference'"),
    ],
)
def test_a_malformed_ab_result_is_refused_by_name(ab_folder, tmp_path, change, message):
    from linreg.errors import ResultSetError
    from linreg.results.load import load_result

    record = {**json.loads((ab_folder / AB_FILE).read_text()), **change}
    path = tmp_path / AB_FILE
    path.write_text(json.dumps(record))
    with pytest.raises(ResultSetError, match=f"ab.json: malformed ab-result record .*{message}"):
        load_result(path)
