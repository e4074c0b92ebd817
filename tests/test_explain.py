"""Where the instructions went: standardising names, denoising, ranking the changes per call,
the noise floor, and showing the list where a verdict fires (record, terminal, `linreg
explain`, report).

The profiles here are tables built by hand or tiny callgrind dumps (tests/data/profiles/);
tests/test_explain_valgrind.py counts real ones, tests/test_profiles.py keeps and reads them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linreg import units
from linreg.cli import main
from linreg.compare.explain import (
    ALLOCATOR_SHARE,
    NOISE_MIN_PER_CALL,
    NOISE_SHARE,
    denoised,
    function_changes,
    function_counts,
    is_allocator,
    is_interpreter_frame,
    noise_floor_per_call,
    prepared,
    standardized,
)
from linreg.compare.explain_cases import explained, resolve_case
from linreg.errors import ResultSetError
from linreg.report.function_names import short_function, short_functions
from linreg.results.bench_sessions import sessions
from linreg.results.load import load_bench, load_speed_verdict
from linreg.results.profiles import (
    FunctionTable,
    compress_dump,
    read_profile,
)
from linreg.results.speed_verdict import (
    EXCLUSIVE,
    INCLUSIVE,
    INSTRUCTIONS,
    NO_CHANGE,
    SLOWER,
    WALL,
    CaseVerdict,
    FunctionDelta,
)
from tests.instruction_files import HOST_A, PYTEST_ID, STACK, TRAIN, bench_json
from tests.profile_files import PROFILES, needs_annotate, with_profile


def table(inclusive, exclusive, total, calls=1, path="p") -> FunctionTable:
    return FunctionTable(Path(path), calls, total, tuple(inclusive), tuple(exclusive))


# --- standardising, denoising, the interpreter's frames -----------------------------------------


@pytest.mark.parametrize(
    ("raw", "standard"),
    [
        # CallgrindStats.as_standardized()'s rules: build folders and the library go.
        ("/tmp/python-build.2026.1/Python-3.11.7/Python/ceval.c:_PyEval_EvalFrameDefault "
         "[/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0]",
         "Python/ceval.c:_PyEval_EvalFrameDefault"),
        ("/opt/b/Python-3.11.7/Objects/obmalloc.c:_PyObject_Free",
         "Objects/obmalloc.c:_PyObject_Free"),
        ("/home/ci/pytorch/build/aten/src/ATen/Ops.cpp:at::_ops::exp::call(at::Tensor const&)",
         "build/aten/src/ATen/Ops.cpp:at::_ops::exp::call(at::Tensor const&)"),
        # Ours: the rest of CPython's tree, PyTorch's sources, addresses, "???:".
        ("/tmp/pb/Python-3.11.7/./Include/internal/pycore_call.h:PyObject_Vectorcall'2",
         "Include/internal/pycore_call.h:PyObject_Vectorcall'2"),
        ("/home/me/src/pytorch/aten/src/ATen/native/UnaryOps.cpp:at::native::exp(Tensor)",
         "aten/src/ATen/native/UnaryOps.cpp:at::native::exp(Tensor)"),
        ("???:0x0000000004936718 [???]", "0x…"),
        ("???:at::native::exp(at::Tensor const&) [clone .isra.0] [/a/libtorch_cpu.so]",
         "at::native::exp(at::Tensor const&)"),
    ],
)  # fmt: skip
def test_names_lose_build_paths_libraries_and_addresses(raw, standard):
    counts = standardized(function_counts(((5, raw),), inclusive=False))
    assert [fn for _, fn in counts] == [standard]


def test_the_same_function_built_in_two_places_is_one_name():
    pairs = ((3, "/a/Python-3.11.7/Python/ceval.c:f [/a/libpython3.11.so]"),
             (4, "/b/Python-3.11.7/Python/ceval.c:f [/b/libpython3.11.so]"))  # fmt: skip
    assert list(standardized(function_counts(pairs, inclusive=False))) == [(7, "Python/ceval.c:f")]


@pytest.mark.parametrize(
    "noisy",
    ["Objects/dictobject.c:lookdict_unicode", "Objects/dictobject.c:unicodekeys_lookup_unicode",
     "Objects/dictobject.c:_Py_dict_lookup"],
)  # fmt: skip
def test_the_interpreters_name_lookups_are_denoised(noisy):
    counts = function_counts(((9, noisy), (1, "at::native::exp")), inclusive=False)
    assert [fn for _, fn in denoised(counts)] == ["at::native::exp"]


@pytest.mark.parametrize(
    ("name", "interpreter"),
    [
        ("/x/Python-3.11.7/Python/ceval.c:_PyEval_EvalFrameDefault'2", True),
        ("/x/Python-3.11.7/./Include/internal/pycore_call.h:PyObject_Vectorcall", True),
        ("???:_PyEval_EvalFrameDefault [/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0]", True),
        ("???:_PyEval_EvalFrameDefault [/usr/bin/python3.11]", True),
        ("???:0x0000000004936718'2 [???]", True),
        ("???:torch::autograd::THPVariable_exp(_object*) [/t/libtorch_python.so]", False),
        ("./malloc/./malloc/malloc.c:malloc [/usr/lib/x86_64-linux-gnu/libc.so.6]", False),
    ],
)  # fmt: skip
def test_interpreter_frames_are_told_from_the_rest(name, interpreter):
    assert is_interpreter_frame(name) is interpreter


def test_interpreter_frames_leave_the_inclusive_list_and_stay_in_the_exclusive_one():
    frame = "/x/Python-3.11.7/Python/ceval.c:_PyEval_EvalFrameDefault [/x/libpython3.11.so.1.0]"
    kernel = "???:at::native::exp(at::Tensor const&) [/t/libtorch_cpu.so]"
    read = table([(900, frame), (500, kernel)], [(400, frame), (500, kernel)], total=900)
    assert [fn for _, fn in prepared(read, inclusive=True)] == [
        "at::native::exp(at::Tensor const&)"
    ]
    assert {fn for _, fn in prepared(read, inclusive=False)} == {
        "Python/ceval.c:_PyEval_EvalFrameDefault",
        "at::native::exp(at::Tensor const&)",
    }


# --- the delta: per call, ranked, shared, beyond noise ------------------------------------------


def test_changes_are_per_call_ranked_by_size_with_their_share_of_the_case():
    reference = table(
        [(400_000, "a [l]"), (100_000, "b [l]")],
        [(300_000, "a [l]"), (100_000, "b [l]"), (200_000, "c [l]")],
        total=600_000, calls=100,
    )  # fmt: skip
    # The candidate counted 50 calls: per call, a grew by 2,000 and c shrank by 1,200.
    candidate = table(
        [(300_000, "a [l]"), (50_000, "b [l]")],
        [(250_000, "a [l]"), (50_000, "b [l]"), (40_000, "c [l]")],
        total=340_000, calls=50,
    )  # fmt: skip
    changes = function_changes(reference, candidate)
    assert changes.change_per_call == pytest.approx(800.0)
    assert changes.noise_per_call == NOISE_MIN_PER_CALL
    rows = [(f.kind, f.function, f.delta, f.share) for f in changes.functions]
    assert rows == [
        (INCLUSIVE, "a", pytest.approx(2_000.0), pytest.approx(2.5)),
        (EXCLUSIVE, "a", pytest.approx(2_000.0), pytest.approx(2.5)),
        (EXCLUSIVE, "c", pytest.approx(-1_200.0), pytest.approx(-1.5)),
    ]
    assert changes.within_noise == 0  # b did the same work a call on both sides


def test_only_changes_beyond_the_noise_floor_are_listed_and_the_rest_are_counted():
    count = 10_000_000  # a call: the floor is NOISE_SHARE of it
    floor = noise_floor_per_call(count)
    assert floor == pytest.approx(NOISE_SHARE * count) and floor > NOISE_MIN_PER_CALL
    reference = table([], [(count // 2, "x [l]"), (count // 2, "y [l]")], total=count)
    candidate = table(
        [], [(count // 2 + int(floor) + 1, "x [l]"), (count // 2 + int(floor) - 1, "y [l]")],
        total=count + 2 * int(floor),
    )  # fmt: skip
    changes = function_changes(reference, candidate)
    assert [f.function for f in changes.functions] == ["x"]
    assert changes.within_noise == 1
    assert "1 smaller changes within noise (noise: |Δ| ≤ 10,000 instructions per call, " in (
        changes.note
    )


# --- the noise rule: what moves between identical runs is the allocators' work ---------------

MALLOC = "./malloc/./malloc/malloc.c:_int_malloc [/usr/lib/x86_64-linux-gnu/libc.so.6]"
OBMALLOC = "/b/Python-3.11.7/Objects/obmalloc.c:_PyObject_Free [/b/libpython3.11.so.1.0]"
_ALLOCATORS = (MALLOC, OBMALLOC)


@pytest.mark.parametrize(
    ("name", "allocator"),
    [("./malloc/./malloc/malloc.c:_int_free", True), ("Objects/obmalloc.c:_PyObject_Free", True),
     ("operator new(unsigned long)", True), ("malloc", True), ("Modules/gcmodule.c:collect", True),
     ("at::native::exp(at::Tensor const&)", False), ("Python/ceval.c:_PyEval_EvalFrameDefault",
     False), ("c10::impl::malloc_like_helper", False)],
)  # fmt: skip
def test_the_allocators_are_known_by_name(name, allocator):
    assert is_allocator(name) is allocator


@dataclass
class CallTree:
    """Functions calling one another (a tree), each with its own instructions and the
    allocator instructions it causes, by allocator: a profile's two tables, built consistently."""

    children: dict[str, list[str]]
    own: dict[str, int]
    allocations: dict[str, dict[str, int]]

    def inclusive(self, name: str) -> int:
        return (self.own[name] + sum(self.allocations[name].values())
                + sum(self.inclusive(child) for child in self.children[name]))  # fmt: skip

    def table(self) -> FunctionTable:
        allocator_totals = {a: sum(per[a] for per in self.allocations.values() if a in per)
                            for a in _ALLOCATORS}  # fmt: skip
        exclusive = [(count, f"{name} [libtorch_cpu.so]") for name, count in self.own.items()]
        exclusive += [(count, a) for a, count in allocator_totals.items() if count]
        inclusive = [(self.inclusive(n), f"{n} [libtorch_cpu.so]") for n in self.own]
        inclusive += [(count, a) for a, count in allocator_totals.items() if count]
        return table(inclusive, exclusive, total=sum(c for c, _ in exclusive))


@st.composite
def call_trees(draw) -> CallTree:
    size = draw(st.integers(1, 12))
    names = [f"ns::f{i}(int)" for i in range(size)]
    children: dict[str, list[str]] = {name: [] for name in names}
    for index in range(1, size):
        children[names[draw(st.integers(0, index - 1))]].append(names[index])
    own = {name: draw(st.integers(1, 10**7)) for name in names}
    allocations = {name: {a: draw(st.integers(0, 10**6)) for a in _ALLOCATORS} for name in names}
    return CallTree(children, own, allocations)


def _heap_moved(tree: CallTree, data) -> CallTree:
    """The same code where the heap lies elsewhere: each allocator's work at each call site
    scaled, within what the rule allows of its total (less than ALLOCATOR_SHARE of the larger
    side, with room for rounding)."""
    low, high = 1 - ALLOCATOR_SHARE, 1 / (1 - ALLOCATOR_SHARE)
    scale = {a: data.draw(st.floats(low * 1.01, high * 0.99)) for a in _ALLOCATORS}
    moved = {name: {a: round(count * scale[a]) for a, count in per.items()}
             for name, per in tree.allocations.items()}  # fmt: skip
    return CallTree(tree.children, tree.own, moved)


@settings(max_examples=200, deadline=None)
@given(tree=call_trees(), data=st.data())
def test_the_same_code_with_the_heap_elsewhere_lists_no_function(tree, data):
    changes = function_changes(tree.table(), _heap_moved(tree, data).table())
    assert changes.functions == (), changes.functions


@settings(max_examples=200, deadline=None)
@given(tree=call_trees(), data=st.data())
def test_a_planted_function_is_listed_above_the_heaps_noise(tree, data):
    """A new function under any caller, its own work beyond the case's floor and twice the
    heap's movement (which may take as much from the caller's count as it adds elsewhere), is
    listed inclusive and exclusive, and so is the caller."""
    moved = _heap_moved(tree, data)
    reference = tree.table()
    noise = function_changes(reference, moved.table()).allocators_per_call
    floor = noise_floor_per_call(reference.total) + 2 * noise
    caller = data.draw(st.sampled_from(sorted(tree.own)))
    planted = "ns::planted(int)"
    moved.own[planted] = int(data.draw(st.floats(1.01, 10)) * floor) + 1
    moved.children = {**moved.children, caller: [*moved.children[caller], planted], planted: []}
    allocations = {a: data.draw(st.integers(0, 10**6)) for a in _ALLOCATORS}
    moved.allocations = {**moved.allocations, planted: allocations}
    changes = function_changes(reference, moved.table(), top=100)
    listed = {(f.kind, f.function) for f in changes.functions}
    assert {(INCLUSIVE, planted), (EXCLUSIVE, planted), (INCLUSIVE, caller)} <= listed
    # Of the functions' own work, only the planted one's changed (an allocator's may have too).
    assert {n for kind, n in listed if kind == EXCLUSIVE and not is_allocator(n)} == {planted}


def test_an_allocators_move_within_its_share_is_noise_and_beyond_it_is_listed():
    count = 10_000_000  # a call: the floor is 10,000
    own = 200_000
    for grown, listed in ((own * 0.3, False), (own * 0.4, True)):
        reference = table([], [(count - own, "f [l]"), (own, MALLOC)], total=count)
        candidate = table([], [(count - own, "f [l]"), (own + int(grown), MALLOC)],
                          total=count + int(grown))  # fmt: skip
        names = [f.function for f in function_changes(reference, candidate).functions]
        assert names == (["./malloc/./malloc/malloc.c:_int_malloc"] if listed else []), grown


def test_an_unchanged_case_lists_nothing_and_says_so():
    same = table([(5_000, "a [l]")], [(5_000, "a [l]")], total=5_000)
    changes = function_changes(same, same)
    assert changes.functions == () and changes.change_per_call == 0
    assert changes.note.startswith("no function changed beyond noise")


def test_each_list_keeps_its_top_and_counts_what_it_left_out():
    names = [f"f{i}" for i in range(20)]
    reference = table([], [(1, f"{n} [l]") for n in names], total=20)
    candidate = table([], [(1 + 10_000 * (i + 1), f"{n} [l]") for i, n in enumerate(names)],
                      total=20 + 10_000 * 210)  # fmt: skip
    changes = function_changes(reference, candidate, top=15)
    assert [f.function for f in changes.functions] == [f"f{i}" for i in range(19, 4, -1)]
    assert changes.not_listed == 5 and changes.note.startswith("5 more beyond noise not listed")


@needs_annotate
def test_the_tiny_profiles_name_the_kernel_that_doubled(tmp_path):
    tables = []
    for side in ("reference", "candidate"):
        path = tmp_path / f"{side}.callgrind.gz"
        path.write_bytes(compress_dump(PROFILES / f"{side}.callgrind"))
        tables.append(read_profile(path, calls=2))
    changes = function_changes(*tables)
    inclusive = [f.function for f in changes.functions if f.kind == INCLUSIVE]
    exclusive = [f.function for f in changes.functions if f.kind == EXCLUSIVE]
    # Built in two places, one name; the interpreter's frame is no inclusive cause; the lookups
    # are denoised; malloc's +50 a call is noise.
    assert inclusive == [
        "at::_ops::mul::call(at::Tensor const&, at::Tensor const&)",
        "at::native::mul_kernel(at::TensorIteratorBase&)",
    ]
    assert exclusive == ["at::native::mul_kernel(at::TensorIteratorBase&)"]
    kernel = changes.functions[-1]
    assert (kernel.delta, kernel.share) == (2_000.0, pytest.approx(2_000 / 2_060))


# --- names at the terminal's width --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("torch::autograd::THPVariable_exp(_object*, _object*, _object*)",
         "torch::autograd::THPVariable_exp"),
        ("c10::impl::wrap_kernel_functor_unboxed_<c10::impl::detail::WrapFunctionIntoFunctor_<"
         "c10::CompileTimeFunctionPointer<at::Tensor (c10::DispatchKeySet, at::Tensor const&), "
         "&torch::autograd::VariableType::(anonymous namespace)::exp> >, at::Tensor "
         "(c10::DispatchKeySet, at::Tensor const&)>::call(c10::OperatorKernel*, "
         "c10::DispatchKeySet, at::Tensor const&)",
         "c10::impl::wrap_kernel_functor_unboxed_<…&exp>::call"),
        ("torch::autograd::VariableType::(anonymous namespace)::sum(c10::DispatchKeySet, "
         "at::Tensor const&)", "torch::autograd::VariableType::(anon)::sum"),
        ("std::vector<int, std::allocator<int> >::push_back(int const&)",
         "std::vector<…>::push_back"),
        ("./malloc/./malloc/malloc.c:_int_free", "malloc.c:_int_free"),
        ("Include/internal/pycore_call.h:PyObject_Vectorcall'2",
         "pycore_call.h:PyObject_Vectorcall'2"),
        ("bool operator<(int, int)", "bool operator<"),
        ("a_very_long_namespace::another_long_namespace::yet_another::the_function_itself",
         "a_very_long_namespace::anothe…t_another::the_function_itself"),
    ],
)  # fmt: skip
def test_a_name_is_shortened_to_whose_and_which_function(name, short):
    assert short_function(name, 60) == short
    assert len(short_function(name, 20)) == min(20, len(short))


# Names as callgrind gives them, built from few parts so that short forms meet often: overloads
# (parameters), instantiations (templates), the same function in two files, long names that
# differ only deep inside.
_IDENTIFIERS = st.sampled_from(["at", "c10", "torch", "autograd", "isFwGradDefined", "call",
                                "impl", "_ops", "(anonymous namespace)", "x" * 40])  # fmt: skip
_TYPES = st.sampled_from(["int", "long", "at::Tensor const&", "std::optional<at::Tensor> const&",
                          "c10::optional<at::Tensor> const&", "c10::DispatchKeySet"])  # fmt: skip
_FILES = st.sampled_from(["", "a.cpp:", "torch/csrc/autograd/a.cpp:", "b/a.cpp:", "malloc.c:"])


@st.composite
def function_names(draw) -> str:
    scope = "::".join(draw(st.lists(_IDENTIFIERS, min_size=1, max_size=6)))
    if draw(st.booleans()):
        scope += f"<{draw(_TYPES)}>::{draw(_IDENTIFIERS)}"
    if draw(st.booleans()):
        scope += f"({', '.join(draw(st.lists(_TYPES, max_size=3)))})"
        scope += draw(st.sampled_from(["", " const", "'2"]))
    return draw(_FILES) + scope


_NAMES = st.lists(st.one_of(function_names(),
                            st.text(st.sampled_from("ab:<>()&, "), min_size=1, max_size=200)
                            .filter(lambda t: t == t.strip() and t)),
                  min_size=1, max_size=12, unique=True)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(names=_NAMES, width=st.integers(20, 80))
def test_two_functions_never_print_the_same_name(names, width):
    shown = short_functions(names, width)
    assert set(shown) == set(names)
    assert len(set(shown.values())) == len(names)
    assert all(len(text) <= width for text in shown.values())


@settings(max_examples=100, deadline=None)
@given(names=_NAMES)
def test_a_name_no_other_meets_reads_as_it_did(names):
    alone = [n for n in names if sum(short_function(m, 60) == short_function(n, 60)
                                     for m in names) == 1]  # fmt: skip
    shown = short_functions(names, 60)
    taken = {shown[n] for n in names if n not in alone}
    for name in alone:
        if short_function(name, 60) not in taken:
            assert shown[name] == short_function(name, 60)


def test_overloads_are_told_apart_by_their_parameters():
    names = ["torch::autograd::isFwGradDefined(std::optional<at::Tensor> const&)",
             "torch::autograd::isFwGradDefined(c10::optional<at::Tensor> const&)"]  # fmt: skip
    assert short_functions(names, 60) == {
        names[0]: "torch::autograd::isFwGradDefined(std::optional<…> const&)",
        names[1]: "torch::autograd::isFwGradDefined(c10::optional<…> const&)",
    }


# A row of the printed list: the name, then its Δ a call and its share.
_ROW = re.compile(r"^(?P<name>.*?)\s+[+−]?[\d.,]+(?: [kMG])?\s+(?:–|<0\.1 %|−?[\d.,]+ %)$")


@settings(max_examples=60, deadline=None)
@given(names=_NAMES, data=st.data())
def test_the_list_at_80_columns_prints_each_function_once_on_one_line(names, data):
    from linreg.cli.console import console
    from linreg.cli.function_list import print_functions

    deltas = data.draw(st.lists(st.floats(-1e9, 1e9).filter(lambda d: abs(d) >= 1),
                                min_size=len(names), max_size=len(names)))  # fmt: skip
    change = data.draw(st.one_of(st.none(), st.floats(-1e9, 1e9).filter(lambda d: abs(d) >= 1)))
    rows = [FunctionDelta(n, INCLUSIVE if i % 2 else EXCLUSIVE, 0.0, d,
                          None if change is None else d / change)
            for i, (n, d) in enumerate(zip(names, deltas, strict=True))]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(console, "width", 80)
        with console.capture() as captured:
            print_functions(rows, "", wide=False)
    lines = captured.get().splitlines()
    assert all(len(line) <= 80 for line in lines)
    printed = [m["name"] for m in map(_ROW.match, lines) if m and not m["name"].startswith("─")]
    # One line a function (nothing wrapped), and no two functions under one name.
    assert len(printed) == len(names) and len(set(printed)) == len(names), lines


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(-1.0, "−100 %"), (0.035, "3.5 %"), (0.0004, "<0.1 %"), (-0.0004, "<0.1 %"),
     (0.45, "45 %"), (15.1, "1,510 %"), (0.0025, "0.25 %"), (0.0, "0 %"), (None, "–")],
)  # fmt: skip
def test_a_share_reads_as_a_percentage(fraction, text):
    assert units.share(fraction) == text


@given(st.floats(-1e6, 1e6).filter(lambda f: abs(f) >= 0.01))
def test_a_percentage_of_a_percent_or_more_is_never_an_exponent(fraction):
    text = units.percent(fraction)
    assert "e" not in text
    assert float(text.removesuffix(" %")) == pytest.approx(fraction * 100, rel=0.05, abs=0.5)


@given(st.floats(-1e6, 1e6, allow_nan=False))
def test_a_share_is_never_an_exponent_and_says_its_value(fraction):
    text = units.share(fraction)
    assert "e" not in text and text.endswith(" %")
    if abs(fraction) >= 0.001:
        number = float(text.removesuffix(" %").replace(",", "").replace(units.MINUS, "-"))
        assert number == pytest.approx(fraction * 100, rel=0.05, abs=0.5)
        assert (number < 0) == (fraction < 0)


# --- where a verdict fires: the record, compare, explain ----------------------------------------


def _sides(tmp_path: Path) -> tuple[Path, Path]:
    """Two same-machine bench files of the train case whose kept profiles are the tiny ones."""
    made = []
    for side, count, when in (("reference", 5_000, "10:00"), ("candidate", 7_060, "11:00")):
        path = bench_json(tmp_path / side / PYTEST_ID / "0001_a.json", {TRAIN: count},
                          {**STACK, **HOST_A}, session=side,
                          when=f"2026-11-29T{when}:00")  # fmt: skip
        made.append(with_profile(path, PROFILES / f"{side}.callgrind"))
    return made[0], made[1]


def _session(path: Path):
    return sessions([load_bench(path)])[0]


@needs_annotate
def test_a_slower_instruction_case_carries_its_functions_into_the_record(tmp_path):
    reference, candidate = _sides(tmp_path)
    slower = CaseVerdict(TRAIN, INSTRUCTIONS, SLOWER, 5_000, 7_060, (1, 1), 1.412, 0.03)
    unchanged = CaseVerdict(TRAIN, WALL, NO_CHANGE, 0.04, 0.04, (1, 1), 1.0, 0.1)
    cases = explained([slower, unchanged], _session(reference), _session(candidate))
    assert cases[1] is unchanged
    record = cases[0].to_dict()
    assert [f["function"] for f in record["functions"]][:1] == [
        "at::_ops::mul::call(at::Tensor const&, at::Tensor const&)"
    ]
    assert "(noise: |Δ| ≤ 1,000 instructions per call, " in record["functions_note"]
    assert "functions" not in unchanged.to_dict()


def test_a_side_without_profiles_says_so_and_the_verdict_stands(tmp_path):
    made = [
        bench_json(tmp_path / side / "0001_a.json", {TRAIN: count}, {**STACK, **HOST_A},
                   session=side)
        for side, count in (("r", 5_000), ("c", 7_000))
    ]  # fmt: skip
    slower = CaseVerdict(TRAIN, INSTRUCTIONS, SLOWER, 5_000, 7_000, (1, 1), 1.4, 0.03)
    [case] = explained([slower], *(_session(p) for p in made))
    assert case.outcome == SLOWER and case.functions == ()
    assert case.functions_note.startswith("no function list: the reference (") and (
        case.functions_note.endswith(f"kept no profile of {TRAIN}")
    )


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"function": 3, "kind": "inclusive"}, "function entry must be an object"),
        ({"function": "f", "kind": "both"}, "kind must be inclusive or exclusive"),
        ({"function": "f", "kind": "inclusive", "reference": "1", "candidate": 2, "delta": 1},
         "reference must be a number"),
    ],
)  # fmt: skip
def test_a_record_with_a_malformed_function_entry_is_refused(tmp_path, entry, match):
    case = CaseVerdict(TRAIN, INSTRUCTIONS, SLOWER, 1.0, 2.0, (1, 1), 2.0, 0.03).to_dict()
    record = {"schema_version": 2, "kind": "speed-verdict", "reference": "r", "candidate": "c",
              "summary": "", "same_machine": True, "gating": True, "verdict": "regressed",
              "cases": [{**case, "functions": [entry]}]}  # fmt: skip
    path = tmp_path / "speed.json"
    path.write_text(json.dumps(record))
    with pytest.raises(ResultSetError, match=match):
        load_speed_verdict(path)


def test_a_records_function_list_reads_back():
    delta = FunctionDelta("at::native::exp", INCLUSIVE, 10.0, 2_010.0, 0.9)
    case = CaseVerdict(TRAIN, INSTRUCTIONS, SLOWER, 1.0, 2.0, (1, 1), 2.0, 0.03,
                       functions=(delta,), functions_note="n")  # fmt: skip
    assert case.to_dict()["functions"] == [
        {"function": "at::native::exp", "kind": "inclusive", "reference": 10.0,
         "candidate": 2_010.0, "delta": 2_000.0, "share": 0.9}
    ]  # fmt: skip


@needs_annotate
def test_compare_prints_the_function_list_under_the_speed_table_at_80_columns(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "80")
    reference, candidate = _sides(tmp_path)
    out = tmp_path / "speed.json"
    code = main(["compare", str(reference), str(candidate), "--fail-on-regression", "10%",
                 "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 1
    assert "Where the instructions went: train, slower (×1.41, +2.06 k a call)" in printed
    listed = printed[printed.index("inclusive: with what they called") :]
    assert listed.index("at::_ops::mul::call") < listed.index("at::native::mul_kernel")
    # The speed table and the lists fit 80 columns (the file written is named after it).
    shown = printed[: printed.index("speed verdict: ")]
    assert max(len(line) for line in shown.splitlines()) <= 80
    [case] = [c for c in load_speed_verdict(out).cases if c.metric == INSTRUCTIONS]
    assert case.functions[0].share == pytest.approx(2_000 / 2_060)


@needs_annotate
def test_explain_lists_any_cases_functions(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    reference, candidate = _sides(tmp_path)
    assert main(["explain", str(reference.parent), str(candidate), "--case", "train"]) == 0
    printed = capsys.readouterr().out
    assert max(len(line) for line in printed.splitlines()) <= 80
    unwrapped = " ".join(printed.split())
    assert f"{TRAIN}: 5 k → 7.06 k instructions a call (×1.41, +2.06 k)" in unwrapped
    assert "exclusive: their own instructions" in printed
    assert "at::native::mul_kernel" in printed


@pytest.mark.parametrize(
    ("case", "said"),
    [("nothing-like-it", "no case 'nothing-like-it' counted on both sides"),
     ("bench_", "case 'bench_' names 2 cases")],
)  # fmt: skip
def test_explain_refuses_a_case_it_cannot_name_in_one_line(tmp_path, capsys, case, said):
    cases = {TRAIN: 5e3, TRAIN.replace("seed42", "seed0"): 5e3}
    sides = [
        bench_json(tmp_path / side / "0001_a.json", cases, {**STACK, **HOST_A}, session=side)
        for side in ("r", "c")
    ]
    assert main(["explain", *map(str, sides), "--case", case]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0]


def test_explain_refuses_a_case_without_profiles_in_one_line(tmp_path, capsys):
    sides = [
        bench_json(tmp_path / side / "0001_a.json", {TRAIN: 5e3}, {**STACK, **HOST_A},
                   session=side)
        for side in ("r", "c")
    ]  # fmt: skip
    assert main(["explain", *map(str, sides), "--case", "train"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("linreg: error: the reference (") and "kept no profile" in line


def test_a_case_is_named_by_its_id_its_name_or_a_part_only_it_holds():
    names = {TRAIN, "bench_inference.py::bench_inference[cpu-float32-seed42-eager-n1000]"}
    assert resolve_case(TRAIN, names) == TRAIN
    assert resolve_case("bench_train[cpu-float32-seed42-eager]", names) == TRAIN
    assert resolve_case("n1000", names).endswith("n1000]")
    with pytest.raises(ResultSetError, match="names 2 cases"):
        resolve_case("cpu-float32", names)


def test_the_reports_regression_section_shows_the_list_under_the_case(tmp_path):
    from linreg.report.build import build_report
    from linreg.results import kinds

    listed = CaseVerdict(TRAIN, INSTRUCTIONS, SLOWER, 3.3e8, 3.6e8, (1, 1), 1.09, 0.03,
                         functions=(FunctionDelta("at::native::exp(at::Tensor const&)", INCLUSIVE,
                                                  0.0, 7.7e6, 0.25),),
                         functions_note="3 smaller changes within noise")  # fmt: skip
    bare = CaseVerdict(TRAIN.replace("seed42", "seed0"), INSTRUCTIONS, SLOWER, 3.3e8, 3.6e8,
                       (1, 1), 1.09, 0.03,
                       functions_note="no function list: no profile")  # fmt: skip
    record = {"reference": "r", "candidate": "c", "reference_series": "", "candidate_series": "",
              "same_machine": True, "gating": True, "interleaved": False, "confidence": 0.99,
              "verdict": "regressed", "summary": "2 of 2 cases slower", "notes": [],
              "cases": [listed.to_dict(), bare.to_dict()]}  # fmt: skip
    (tmp_path / "verdict.json").write_text(json.dumps(kinds.envelope(kinds.SPEED_VERDICT, record)))
    page = build_report([tmp_path], tmp_path / "report.html").path.read_text()
    assert "Where the instructions went: train seed42, slower (3 smaller changes" in page
    table = page[page.index('data-table="functions-0"') :]
    assert "<td>at::native::exp</td><td>inclusive</td><td>+7.7 M</td><td>25 %</td>" in table
    assert "<td>no function list: no profile</td>" in page
