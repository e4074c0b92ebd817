"""The aten ops a training step or an inference call makes, counted, with the Python lines
that made them.

Counted, not timed: the same code on the same stack makes the same ops in the same numbers on
every run, on any device, so a change in the ops a step makes is a finding from one process.

How: a ``TorchDispatchMode``. Its ``__torch_dispatch__`` sees every op once, below autograd and
after composite ops are decomposed, which is the level at which kernels run: ``nn.Linear`` is
``aten::t`` and ``aten::addmm``, L1 loss is ``aten::sub``, ``aten::abs``, ``aten::mean``. (Under
inference mode, with autograd off, a composite op reaches the mode whole; it is decomposed
there, under the mode, so that inference counts the same kernels as training.) It sees the
backward pass (the autograd engine dispatches its ops like any other) and the optimizer's ops,
per parameter or ``_foreach_*`` (torch's optimizers default to foreach on CUDA: a CUDA step
counts other ops than a CPU step, as it runs other kernels). The mode runs on the host and
never waits for the device, so it counts a CUDA step as it counts a CPU one. torch.profiler
with stacks was tried on the tutorial's epoch and passed over: its events nest (``aten::linear``
holds ``aten::t`` holds ``aten::transpose`` holds ``aten::as_strided``), so a count must pick a
level out of the tree; its aten events came back without a Python stack (``with_stack=True``,
torch 2.13 on the CPU); and a profiled step took about 30 times as long as a counted one (29 ms
against 0.96 ms, 0.79 ms bare: medians of 21 alternated calls of the 40-sample step on a loaded
two-core machine). Both gave the same counts on two runs.

Where: each op is kept with the innermost Python frame outside torch, the standard library and
this module (its file, line, function and source text), the line a reader of the training code
would point at: the model's forward line for the forward ops, the ``loss.backward()`` line for
the backward ops (on the CPU the autograd engine runs them in the thread that called backward;
on CUDA in its own device thread, which has no Python frames, so the line is read from the
thread that called backward, which waits in it), the ``optimizer.step()`` line for the update,
and the patched file's line for code that wraps torch from outside (a ``sitecustomize``). One
frame is kept, not the whole stack: a shared function (the model's forward, called by the
training step and by the evaluation) counts under its own line, which says what made the op;
a second frame would split each op over its callers for every site, and the line that called
the shared function is one ``git grep`` away. A file is named by its path relative to the
``sys.path`` entry that holds it (``linreg/engines/eager.py``, ``sitecustomize.py``), so that
two checkouts of the same code give the same sites. Overloads are merged: ``aten::sum`` counts
``sum.default`` and ``sum.dim_IntList`` alike. The profiler's own markers
(``profiler::_record_function_*``, which ``optimizer.step`` and ``zero_grad`` open) are not ops.

The compiled engine: a graph that torch.compile made does not dispatch its ops one by one, and
torch.compile refuses to run under a dispatch mode. While counting, the compiled engine's step
is compiled by inductor with a hook on the graph inductor is handed (after AOTAutograd and
inductor's decompositions, before its fusion: the ops inductor lowers into its kernels), each
of those ops counted once per call of the step, at the line ``node.meta["stack_trace"]``
names, flagged as a graph's (``graph=True``). The step runs with the mode paused; everything
the engine's loop does outside the step (its evaluations) is counted as in eager. What is not
counted: the few ops torch.compile's runtime wrappers make around a graph, and how inductor
fuses the graph's ops into kernels (one kernel for the whole step on the CPU).

Counting costs time (Python code per op): never inside timed rounds.
"""

from __future__ import annotations

import collections
import contextlib
import linecache
import os
import re
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from linreg.config import TrainConfig

# Namespaces whose "ops" mark things rather than compute: record_function's enter and exit.
_NOT_OPS = ("profiler",)
_TORCH_ROOT = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_STDLIB_ROOTS = tuple(
    {os.path.abspath(sysconfig.get_paths()[k]) + os.sep for k in ("stdlib", "platstdlib")}
)
_PACKAGE_DIRS = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)
_THIS_FILE = os.path.abspath(__file__)
_TRACE_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)')

# (op, file, line, function, code, graph): what a count is kept by.
SiteKey = tuple[str, str, int, str, str, bool]


@dataclass(frozen=True)
class OpCall:
    """``calls`` calls of ``op`` from one line: the innermost frame outside torch (file relative
    to its sys.path entry, line, function, the line's source text); ``graph``: counted from a
    compiled graph rather than dispatched one by one."""

    op: str
    file: str
    line: int
    function: str
    code: str
    graph: bool
    calls: int


@dataclass(frozen=True)
class CountedOps:
    """The ops of ``steps`` steps (or inference calls), by op and line, sorted; ``seconds``:
    what the counted call took with counting on (its cost)."""

    steps: int
    calls: tuple[OpCall, ...]
    seconds: float


def count_ops(
    make_call: Callable[[], Callable[[], object]], steps: int = 1, warmup: int = 1
) -> CountedOps:
    """The ops of one ``make_call()()``, which runs ``steps`` steps.

    ``make_call()`` does the uncounted set-up (data, model, compilation) and returns the call to
    count. ``warmup`` calls of ``make_call()()`` run first, uncounted: a process's first call
    does one-time work (loading, lazy initialisation) that is not the step's.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, not {steps}")
    counter = _OpCounter()
    with _compiled_steps_counted(counter):
        for _ in range(warmup):
            make_call()()
        call = make_call()
        started = time.perf_counter()
        with counter:
            call()
        seconds = time.perf_counter() - started
    return CountedOps(steps, counter.calls(), seconds)


class _OpCounter(TorchDispatchMode):
    """Counts each op dispatched while it is entered, by op and the line that made it."""

    def __init__(self) -> None:
        super().__init__()
        self._counts: collections.Counter[SiteKey] = collections.Counter()
        self._owner = threading.get_ident()
        self._sites: dict[tuple[str, int], tuple[str, int, str, str] | None] = {}
        self.entered = 0

    def __enter__(self):
        self.entered += 1
        return super().__enter__()

    def __exit__(self, *exc):
        self.entered -= 1
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _composite(func):
            # Reached un-decomposed only where autograd is off (inference mode): decomposed
            # here, under the mode, as autograd decomposes it, so that ``nn.Linear`` counts
            # ``aten::t`` and ``aten::addmm`` with and without inference mode alike.
            with self:
                result = func.decompose(*args, **kwargs)
            if result is not NotImplemented:
                return result
        name = func._schema.name
        if name.split("::", 1)[0] not in _NOT_OPS:
            if threading.get_ident() == self._owner:
                frame = sys._getframe(1)
            else:  # an autograd device thread: the line is the one that called backward
                frame = sys._current_frames().get(self._owner)
            site = self._site(frame)
            self._counts[(name, *site, False)] += 1
        return func(*args, **kwargs)

    def add_graph(self, ops: tuple[tuple[str, str, int, str, str], ...]) -> None:
        """One run of a compiled graph: each of its ops, at the line that traced it."""
        for op, file, line, function, code in ops:
            self._counts[(op, file, line, function, code, True)] += 1

    def _site(self, frame) -> tuple[str, int, str, str]:
        while frame is not None:
            code = frame.f_code
            key = (code.co_filename, frame.f_lineno)
            if key not in self._sites:
                self._sites[key] = _named_site(code.co_filename, frame.f_lineno, code.co_name)
            site = self._sites[key]
            if site is not None:
                return site
            frame = frame.f_back
        return ("", 0, "", "")

    def calls(self) -> tuple[OpCall, ...]:
        return tuple(OpCall(*key, calls) for key, calls in sorted(self._counts.items()))


def _composite(func) -> bool:
    """Whether the op has a CompositeImplicitAutograd kernel: one made of other ops."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(
        func.name(), torch._C.DispatchKey.CompositeImplicitAutograd
    )


def _named_site(filename: str, line: int, function: str) -> tuple[str, int, str, str] | None:
    """(file, line, function, source text) of a frame a reader would point at; None for a frame
    of torch, of the standard library or of this module."""
    if filename.startswith("<frozen "):
        return None
    path = os.path.abspath(filename) if not filename.startswith("<") else filename
    if path == _THIS_FILE or path.startswith(_TORCH_ROOT):
        return None
    if path.startswith(_STDLIB_ROOTS) and not any(d in path for d in _PACKAGE_DIRS):
        return None
    return (display_path(path), line, function, linecache.getline(filename, line).strip())


def display_path(path: str) -> str:
    """``path`` relative to the sys.path entry that holds it (the nearest), else as given: the
    same module gives the same name from any checkout or virtual environment."""
    best = None
    for entry in sys.path:
        root = os.path.abspath(entry or os.getcwd()) + os.sep
        if path.startswith(root) and (best is None or len(root) > len(best)):
            best = root
    return path[len(best) :] if best else path


# --- the compiled engine: the ops of the graph inductor compiles, once per call of the step ----


def graph_ops(gm: torch.fx.GraphModule) -> tuple[tuple[str, str, int, str, str], ...]:
    """Each aten op of an FX graph as (op, file, line, function, source text): the line is the
    innermost frame of the node's ``stack_trace`` outside torch; ("", 0, "", "") without one."""
    ops = []
    for node in gm.graph.nodes:
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
            continue
        name = node.target._schema.name
        if name.split("::", 1)[0] in _NOT_OPS:
            continue
        ops.append((name, *_trace_site(node.meta.get("stack_trace") or "")))
    return tuple(ops)


def _trace_site(stack_trace: str) -> tuple[str, int, str, str]:
    lines = stack_trace.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = _TRACE_FRAME.match(lines[index])
        if match is None:
            continue
        site = _named_site(match["file"], int(match["line"]), match["function"])
        if site is not None:
            return site
    return ("", 0, "", "")


class _CountedGraphStep:
    """A compiled engine's step compiled by inductor with its graph kept: called while the
    counter is entered, the step runs with the mode paused and its graph's ops are counted."""

    def __init__(self, function: Callable, counter: _OpCounter) -> None:
        self._counter = counter
        self._graphs: list[tuple[tuple[str, str, int, str, str], ...]] = []
        self._compiled = torch.compile(
            function, backend=self._backend, dynamic=False, fullgraph=True
        )

    def _backend(self, gm: torch.fx.GraphModule, example_inputs):
        from torch._inductor.compile_fx import compile_fx, compile_fx_inner

        def inner_compile(graph: torch.fx.GraphModule, inputs, **kwargs):
            self._graphs.append(graph_ops(graph))
            return compile_fx_inner(graph, inputs, **kwargs)

        # AOTAutograd's cache hands back a graph compiled before (the engine's own) without
        # calling inner_compile; inductor's own cache, below it, still spares the compile.
        with torch._functorch.config.patch(enable_autograd_cache=False):
            return compile_fx(gm, example_inputs, inner_compile=inner_compile)

    def __call__(self, *args):
        if not self._counter.entered:
            return self._compiled(*args)
        with _disable_current_modes():
            result = self._compiled(*args)
        if not self._graphs:
            raise RuntimeError("torch.compile ran the step without handing inductor a graph")
        # fullgraph=True: one graph per call, the latest compiled (dynamic=False, one shape).
        self._counter.add_graph(self._graphs[-1])
        return result


@contextlib.contextmanager
def _compiled_steps_counted(counter: _OpCounter) -> Iterator[None]:
    """Borrow the compiled engine's step factory, so that a compiled run prepared meanwhile
    steps through a _CountedGraphStep; given back after."""
    from linreg.engines import compiled

    original = compiled._compiled_step
    made: dict[tuple, _CountedGraphStep] = {}

    def counted_step(loss_name, lr, device, dtype, shape, traced=False):
        key = (loss_name, lr, device, dtype, shape, traced)
        if key not in made:  # compiled once per count, however many runs are prepared
            made[key] = _CountedGraphStep(compiled._training_step(loss_name, lr, traced), counter)
        return made[key]

    counted_step.cache_clear = made.clear  # as the engine clears its own after a failed compile
    compiled._compiled_step = counted_step
    try:
        yield
    finally:
        compiled._compiled_step = original


def count_training(config: TrainConfig, warmup: int = 1) -> CountedOps:
    """The ops of a run's loop with the config's engine (all its epochs, its evaluations
    included): per step, the ops of ``config.epochs`` steps."""
    from linreg.engines import prepare

    return count_ops(lambda: prepare(config).loop, steps=config.epochs, warmup=warmup)
