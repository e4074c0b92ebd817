"""`linreg history` at scale, on synthetic results with planted steps: `python
bench/history_scale.py` (or `nox -s history_scale`). Prints the time to build the site, its
index page's time to draw in Chromium, steps found against planted, false positives, peak
memory and the site's size.

The results are real pytest-benchmark files on disk, as `linreg bench` writes them (indented
JSON, the committed baseline's machine_info and fingerprint, five rounds a case), read through
the same loader as any other: 10 hosts × 1,000 sessions × 20 cases = 200,000 wall-time points,
and instruction counts of 5 cases per session (the counting process's). The world:

- four hosts share one CPU string ("AMD EPYC", 2 cores: one machine name), each its own speed
  and host id; three Intel hosts; three ARM hosts. Sessions an hour apart on every host;
- every host moves from torch 2.13.0 to 2.14.1 at session 600 (60 %): a stack change (instruction
  series are per stack, so a new one starts), no change in wall time;
- wall time: each (host, case) series has 0–3 steps of 5–40 % (up or down) at known sessions,
  each level at least 30 sessions long, in 1–3 % log-normal noise between sessions;
- instructions: each (stack, case) series has 0–2 steps of 5–40 % at known hours, on every host
  of the stack at once (a commit), in 0.05 % noise and a 0.2 % offset per host;
- regressions: eight wall series and two instruction series step by 15–30 % in their newest
  sessions (three sessions ago for wall time, the last hour for instructions); the index must
  list exactly these;
- 100 of the files are copied into a second tree ("ci-artifacts"): each must count once.

A planted step is found when a step lies within ±2 sessions (hours) of it; any other step is a
false positive. Not collected by `pytest bench` (it collects bench_*.py).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import math
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from linreg.compare.over_time import case_series, regressions, windowed_steps  # noqa: E402
from linreg.compare.steps import find_steps  # noqa: E402
from linreg.paths import INSTRUCTION_BASELINES  # noqa: E402
from linreg.report.site.build import write_site  # noqa: E402
from linreg.results.history import gather  # noqa: E402
from linreg.results.history_series import INSTRUCTIONS, REGRESSION, WALL  # noqa: E402

TOLERANCE = 2  # sessions (hours)
THRESHOLD = 0.03  # the site's default: below the smallest planted step (5 %)
RECENT = 5
MIN_LEVEL = 30
UPGRADE = 0.6  # where in its sessions every host moves to torch 2.14.1
START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
TORCH = ("2.13.0+cpu", "2.14.1+cpu")

CASES = (
    ("bench_train.py::bench_train[cpu-float32-seed42-eager]", 0.04, 333e6),
    ("bench_train.py::bench_train[cpu-float64-seed42-eager]", 0.045, 341e6),
    ("bench_train.py::bench_train[cpu-float32-seed0-eager]", 0.04, None),
    *(
        (f"bench_inference.py::bench_inference[cpu-float32-seed42-eager-n{n}]", t, i)
        for n, t, i in ((10, 1.1e-5, 78e3), (1000, 1.3e-5, 96e3), (100000, 1.2e-4, 1.7e6),
                        (10000000, 0.02, None))
    ),
    *(
        (f"bench_epoch.py::bench_epoch[cpu-float32-n{n}]", t, None)
        for n, t in ((40, 7e-5), (1000, 8e-5), (10000, 1.1e-4), (100000, 4e-4),
                     (1000000, 3.5e-3), (10000000, 0.035))
    ),
    *(
        (f"bench_engines.py::bench_engine_epoch[cpu-float32-{engine}-n{n}]", t * f, None)
        for engine, f in (("eager", 1.0), ("compiled", 0.6))
        for n, t in ((1000, 8e-5), (100000, 4e-4), (10000000, 0.035))
    ),
    ("bench_epoch.py::bench_copy[cpu]", 0.012, None),
)  # fmt: skip


@dataclass(frozen=True)
class Host:
    index: int
    machine: str
    cpu: str
    cores: int
    arch: str
    capability: str
    speed: float
    host_id: str


def hosts() -> list[Host]:
    found = []
    amd = ("amd-epyc-2c", "AMD EPYC", 2, "x86_64", "avx2")
    intel = ("intel-xeon-platinum-8375c-8c", "Intel(R) Xeon(R) Platinum 8375C CPU", 8, "x86_64",
             "avx512")  # fmt: skip
    arm = ("neoverse-n1-4c", "Neoverse-N1", 4, "aarch64", "default")
    kinds = [amd] * 4 + [intel] * 3 + [arm] * 3
    speeds = (0.9, 1.0, 1.1, 1.25, 0.7, 0.72, 0.75, 1.4, 1.45, 1.5)
    for index, (machine, cpu, cores, arch, capability) in enumerate(kinds):
        host_id = f"{(index + 1) * 0x1F2E3D4C5B6A % (16**12):012x}"
        found.append(Host(index, machine, cpu, cores, arch, capability, speeds[index], host_id))
    return found


@dataclass
class Planted:
    """Steps planted: wall[(host, case)] and instructions[(stack, case)] -> hours; recent:
    the (metric, key, case) series that step in their newest sessions."""

    wall: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    instructions: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    recent: set[tuple[str, str, str]] = field(default_factory=set)


def step_places(rng: np.random.Generator, low: int, high: int, count: int) -> list[int]:
    """``count`` sessions in [low, high), each at least MIN_LEVEL from the others and the ends."""
    room = np.arange(low + MIN_LEVEL, high - MIN_LEVEL)
    if len(room) < count:
        return []
    for _ in range(1000):
        where = np.sort(rng.choice(room, count, False))
        if count == 0 or np.all(np.diff(where) >= MIN_LEVEL):
            return [int(w) for w in where]
    return []


def step_ratio(rng: np.random.Generator, low: float = 0.05, high: float = 0.40) -> float:
    size = rng.uniform(low, high)
    return 1 + size if rng.random() < 0.5 else 1 / (1 + size)


def levels(n: int, places: list[int], ratios: list[float]) -> np.ndarray:
    level = np.ones(n)
    for where, ratio in zip(places, ratios, strict=True):
        level[where:] *= ratio
    return level


def stack_name(host: Host, torch: str) -> str:
    git = "gcf30153" if torch == TORCH[0] else "g1a2b3c4"
    return f"torch-{torch}-{git}-cpython-3.11.7-linux-{host.arch}-{host.capability}"


def template() -> dict:
    """The committed instruction baseline: a real file's machine_info and one case's shape."""
    (path,) = sorted(INSTRUCTION_BASELINES.rglob("*.json"))[:1]
    return json.loads(path.read_text())


def write_world(folder: Path, sessions: int, seed: int) -> tuple[Planted, int, int]:
    """Every host's sessions as pytest-benchmark files, and 100 of them copied again: the steps
    planted, the files written and the copies."""
    rng = np.random.default_rng(seed)
    base = template()
    case_shape = base["benchmarks"][0]
    planted = Planted()
    the_hosts = hosts()
    # Eight wall series step in their newest sessions (three sessions ago): their older steps
    # keep clear of it.
    recent = {int(i) for i in rng.choice(len(the_hosts) * len(CASES), 8, replace=False)}
    wall = {}  # (host, case) -> factor per session
    for host in the_hosts:
        for number, (case, _, _) in enumerate(CASES):
            steps_at_end = host.index * len(CASES) + number in recent
            end = sessions - 3 if steps_at_end else sessions
            places = step_places(rng, 0, end, int(rng.integers(0, 4)))
            ratios = [step_ratio(rng) for _ in places]
            if steps_at_end:
                places.append(end)
                ratios.append(step_ratio(rng, 0.15, 0.30))
                planted.recent.add((WALL, f"host {host.host_id}", case))
            noise = rng.uniform(0.01, 0.03)
            series = levels(sessions, places, ratios) * np.exp(rng.normal(0, noise, sessions))
            wall[host.index, case] = series
            planted.wall[host.index, case] = places
    counted = [c for c, _, i in CASES if i is not None]
    instructions = {}  # (stack, case) -> factor per hour
    stacks = sorted({stack_name(h, t) for h in the_hosts for t in TORCH})
    upgrade = int(UPGRADE * sessions)
    for stack in stacks:
        low, high = (0, upgrade) if TORCH[0] in stack else (upgrade, sessions)
        for case in counted:
            places = step_places(rng, low, high, int(rng.integers(0, 3)))
            ratios = [step_ratio(rng) for _ in places]
            factor = np.ones(sessions)
            factor[low:high] = levels(high - low, [p - low for p in places], ratios)
            instructions[stack, case] = factor
            planted.instructions[stack, case] = places
    for stack, case in (
        (stacks[-1], counted[0]),
        (stacks[1], counted[2]),
    ):  # two instruction regressions at the newest hour of stacks that run then
        if TORCH[1] not in stack:
            stack = stack.replace(f"torch-{TORCH[0]}-gcf30153", f"torch-{TORCH[1]}-g1a2b3c4")
        instructions[stack, case][sessions - 1 :] *= 1.2
        planted.instructions[stack, case].append(sessions - 1)
        planted.recent.add((INSTRUCTIONS, stack, case))
    host_offsets = {h.index: rng.uniform(-0.002, 0.002) for h in the_hosts}
    written = 0
    for host in the_hosts:
        machine_info = _machine_info(base["machine_info"], host)
        for hour in range(sessions):
            torch = TORCH[hour >= upgrade]
            stack = stack_name(host, torch)
            started = START + dt.timedelta(hours=hour, minutes=5 * host.index)
            session = f"h{host.index}-s{hour:04d}"
            info = copy.deepcopy(machine_info)
            env = info["linreg_environment"]
            env["torch"] = torch
            env["torch_git"] = "cf30153" if torch == TORCH[0] else "1a2b3c4"
            env["linreg_commit"] = hashlib.sha1(f"commit {hour}".encode()).hexdigest()
            info.update(linreg_session=session, linreg_process=0, linreg_instructions="counted")
            cases = []
            for case, seconds, count in CASES:
                level = seconds / host.speed * wall[host.index, case][hour]
                rounds = level * np.exp(rng.normal(0, 0.01, 5))
                extra = {"kind": case.split("::")[1].split("[")[0].removeprefix("bench_"),
                         "machine": host.machine, "torch": torch}  # fmt: skip
                if count is not None:
                    drift = instructions[stack, case][hour] * (1 + host_offsets[host.index])
                    extra["instructions"] = round(count * drift * math.exp(rng.normal(0, 5e-4)))
                cases.append(_case(case_shape, case, rounds, extra))
            data = {**base, "machine_info": info, "benchmarks": cases,
                    "datetime": started.isoformat()}  # fmt: skip
            data["commit_info"] = {**base["commit_info"], "id": env["linreg_commit"]}
            target = folder / host.machine / f"{host.host_id}" / f"{hour + 1:04d}_{session}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(data, indent=4))
            written += 1
    copies = folder / "ci-artifacts"
    every = sorted(folder.rglob("*.json"))
    for path in every[:: max(len(every) // 100, 1)][:100]:
        target = copies / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return planted, written, min(100, len(every))


def _machine_info(base: dict, host: Host) -> dict:
    info = copy.deepcopy(base)
    info["linreg_machine"] = host.machine
    info["node"] = "vm"  # as many CI VMs are named: no help in telling them apart
    env = info["linreg_environment"]
    env.update(cpu=host.cpu, cpu_count=host.cores, machine=host.arch,
               torch_cpu_capability=host.capability, host_id=host.host_id)  # fmt: skip
    return info


def _case(shape: dict, fullname: str, rounds: np.ndarray, extra: dict) -> dict:
    data = [float(r) for r in rounds]
    ordered = sorted(data)
    q1, median, q3 = np.percentile(ordered, [25, 50, 75])
    name = fullname.split("::", 1)[1]
    return {
        **shape,
        "name": name,
        "fullname": fullname,
        "param": name.partition("[")[2].rstrip("]"),
        "extra_info": extra,
        "stats": {
            "min": ordered[0], "max": ordered[-1], "mean": float(np.mean(data)),
            "stddev": float(np.std(data, ddof=1)), "rounds": len(data), "median": float(median),
            "iqr": float(q3 - q1), "q1": float(q1), "q3": float(q3), "iqr_outliers": 0,
            "stddev_outliers": 0, "outliers": "0;0", "ld15iqr": ordered[0],
            "hd15iqr": ordered[-1], "ops": 1 / float(np.mean(data)), "total": float(np.sum(data)),
            "data": data, "iterations": 1,
        },
    }  # fmt: skip


def hour_of(session_id: str) -> int:
    return int(session_id.rsplit("-s", 1)[1])


# A found step this far or nearer from a planted one is that step, misplaced; farther, a false
# positive.
NEAR = 10


def score(found: list[int], planted: list[int]) -> tuple[list[int], int]:
    """How far each planted step is from the nearest step found (None: none within NEAR), and
    the steps found near no planted step (false positives)."""
    offsets = []
    for p in planted:
        nearest = min((abs(f - p) for f in found), default=None)
        offsets.append(nearest if nearest is not None and nearest <= NEAR else None)
    false = sum(not any(abs(f - p) <= NEAR for p in planted) for f in found)
    return offsets, false


def render_seconds(index: Path) -> tuple[float | None, str]:
    """Seconds from opening the index in headless Chromium until every figure has drawn."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None, "playwright is not installed (pip install -e '.[test]')"
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        return None, f"no Chromium at {chromium}"
    errors: list[str] = []
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            start = time.perf_counter()
            page.goto(index.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                "() => document.querySelectorAll('[data-figure] .main-svg').length >= "
                "document.querySelectorAll('[data-figure]').length",
                timeout=60_000,
            )
            seconds = time.perf_counter() - start
        finally:
            browser.close()
    return seconds, "; ".join(errors) or "no page or console error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sessions", type=int, default=1_000, help="per host")
    parser.add_argument("--keep", type=Path, help="write the data and site here (kept)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="history-scale-"))
    data, site = root / "results", root / "site"
    shutil.rmtree(site, ignore_errors=True)
    start = time.perf_counter()
    shutil.rmtree(data, ignore_errors=True)
    planted, written, copied = write_world(data, args.sessions, args.seed)
    size = sum(p.stat().st_size for p in data.rglob("*.json"))
    print(
        f"wrote {written:,} benchmark files (+{copied} copies) of {len(CASES)} cases, "
        f"{size / 1e6:.0f} MB, in {time.perf_counter() - start:.1f} s: {data}"
    )
    import ruptures  # noqa: F401 -- paid once by any command; timed with the rest below

    started = time.perf_counter()
    history = gather([data])
    gathered = time.perf_counter()
    series = case_series(history, THRESHOLD)
    stepped = time.perf_counter()
    summary = write_site(history, series, site, THRESHOLD, RECENT)
    built = time.perf_counter()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    points = sum(len(s) for found in series.values() for s in found if s.metric == WALL)
    counted = sum(len(s) for found in series.values() for s in found if s.metric == INSTRUCTIONS)
    print(
        f"site built in {built - started:.1f} s (read {gathered - started:.1f} s, steps "
        f"{stepped - gathered:.1f} s, pages {built - stepped:.1f} s): {len(history.sessions):,} "
        f"sessions, {points:,} wall-time points, {counted:,} instruction points, "
        f"{len(history.labels)} hosts, {len(history.stacks)} stacks, {summary.cases} cases; "
        f"copies counted once: {history.copies}"
    )
    print(
        f"  peak RSS {rss_mib:.0f} MiB; site {summary.bytes / 1e6:.1f} MB in {summary.pages} "
        f"pages (plotly.min.js {(site / 'plotly.min.js').stat().st_size / 1e6:.1f} MB once)"
    )
    seconds, said = render_seconds(site / "index.html")
    shown = "not measured" if seconds is None else f"{seconds:.2f} s"
    print(f"  index page drawn by Chromium in {shown} ({said})")
    _score(history, series, planted)
    linearity(np.random.default_rng(args.seed))


def linearity(rng: np.random.Generator) -> None:
    """One series of 2,000 to 128,000 sessions (an instruction series of many CI runners of one
    stack): with three steps planted, and flat (PELT's slowest case), read in windows; the flat
    one also by find_steps over the whole, which is quadratic there."""
    print("  one long series, 2 % noise (time per 1,000 sessions):")
    for n in (2_000, 8_000, 32_000, 128_000):
        level = np.ones(n)
        planted = [n // 3, n // 2 + 7, n - 4]
        for where, ratio in zip(planted, (1.05, 0.9, 1.2), strict=True):
            level[where:] *= ratio
        values = 0.04 * level * np.exp(rng.normal(0, 0.02, n))
        start = time.perf_counter()
        found = [s.index for s in windowed_steps(values, [None] * n, THRESHOLD)]
        stepped = time.perf_counter() - start
        flat = 0.04 * np.exp(rng.normal(0, 0.02, n))
        start = time.perf_counter()
        false = len(windowed_steps(flat, [None] * n, THRESHOLD))
        windowed = time.perf_counter() - start
        whole = "-"
        if n <= 8_000:  # quadratic: 128,000 would take minutes
            start = time.perf_counter()
            find_steps(flat, None, THRESHOLD)
            whole = f"{(time.perf_counter() - start) / n * 1e6:.0f} ms"
        print(
            f"    {n:>7,}: three steps {stepped / n * 1e6:.0f} ms (planted {planted}, found "
            f"{found}); flat {windowed / n * 1e6:.0f} ms ({false} steps), find_steps over the "
            f"whole flat series {whole}"
        )


def _score(history, series, planted: Planted) -> None:
    by_host = {f"host {h.host_id}": h.index for h in hosts()}
    for metric in (WALL, INSTRUCTIONS):
        offsets: list[int | None] = []
        false = flat = 0
        for case, found in series.items():
            for one in (s for s in found if s.metric == metric):
                hours = [hour_of(history.sessions[s.session].id) for s in one.steps]
                if metric == WALL:
                    expected = planted.wall[by_host[one.key], case]
                else:
                    expected = planted.instructions[one.key, case]
                near, spurious = score(hours, expected)
                offsets += near
                false += spurious
                flat += spurious if not expected else 0
        within = sum(o is not None and o <= TOLERANCE for o in offsets)
        misplaced = sorted(o for o in offsets if o is not None and o > TOLERANCE)
        missed = sum(o is None for o in offsets)
        print(
            f"  {metric}: planted {len(offsets)} steps of 5-40 %: found {within} within "
            f"±{TOLERANCE} sessions (recall {within / max(len(offsets), 1):.1%}), "
            f"{len(misplaced)} further off (by {misplaced or '-'} sessions), {missed} missed; "
            f"false positives {false} (no planted step within ±{NEAR}), {flat} of them on "
            "series with no planted step"
        )
    judged = regressions([s for found in series.values() for s in found], RECENT)
    # The index's red list: slower and earned (this script's sessions each run a new commit).
    listed = [r for r in judged if r.kind == REGRESSION]
    said = {(r.series.metric, r.series.key, r.series.case) for r in listed}
    print(
        f"  regressions listed {len(listed)}: planted {len(planted.recent)}, of them listed "
        f"{len(planted.recent & said)}; listed but not planted {len(said - planted.recent)}; "
        f"{len(judged) - len(listed)} more steps or jumps in the newest sessions (undecided, "
        "speed-ups, noise)"
    )


if __name__ == "__main__":
    main()
