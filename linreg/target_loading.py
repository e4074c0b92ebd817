"""Loading a target by its spec, as a guest: its errors named by its own file and line, its
import kept from changing the harness's global settings, its code hashed into its identity.

A spec is ``FILE.py:NAME``, ``package.module:NAME``, either without ``:NAME`` where the module
defines one target, or the short name of a target shipped with linreg (``mlp``, ``cnn``,
``chargpt``, ``tutorial``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from linreg.target import Target, TargetError, declaration_problems
from linreg.target_config import TargetConfig, TargetRef

# The targets shipped in linreg.targets, by short name.
BUNDLED = {
    "tutorial": "linreg.targets.tutorial:Tutorial",
    "mlp": "linreg.targets.mlp:Mlp",
    "cnn": "linreg.targets.cnn:Cnn",
    "chargpt": "linreg.targets.chargpt:CharGpt",
}
DEFAULT_SPEC = BUNDLED["tutorial"]
_PACKAGE_DIR = Path(__file__).resolve().parent
# Modules imported from a file get a private name: a user's "model.py" must not shadow (or be
# shadowed by) another module called "model".
_PRIVATE_PREFIX = "_linreg_target_"


def is_tutorial(spec: str | None) -> bool:
    """Whether a spec names the tutorial's target (which the tutorial's own engines train)."""
    if spec is None:
        return True
    full = BUNDLED.get(spec, spec)
    return full in (DEFAULT_SPEC, DEFAULT_SPEC.split(":")[0])


def load_target(spec: str) -> tuple[Target, TargetRef]:
    """The target a spec names, instantiated, with its reference (spec, name, code hash).

    TargetError (exit 2) for a file that does not exist, a module that fails to import (its own
    error in one line with file:line), a name it does not define, a class that is not a Target,
    a builder it lacks, a declaration linreg does not know, or an import that changed torch's
    global settings.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise TargetError(repr(spec), "give FILE.py:NAME, package.module:NAME or a bundled name")
    location, name = _split(BUNDLED.get(spec, spec))
    module = _import(spec, location)
    cls = _find_class(spec, module, name)
    problems = declaration_problems(cls)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise TargetError(spec, f"{cls.__name__} {problems[0]}{more}")
    with _guarded(spec, "creating the target"):
        try:
            target = cls()
        except Exception as exc:  # the user's constructor: any failure is theirs
            raise TargetError(spec, error_summary(exc)) from None
    return target, TargetRef(spec=spec, name=cls.target_name(), code_hash=code_hash(spec, cls))


def unsupported(target: Target, config: TargetConfig) -> TargetError | None:
    """Why the target cannot run the config (a dtype, device kind, engine or size it does not
    declare), or None when it declares them all."""
    spec = config.target.spec
    kind = config.device.split(":")[0]
    for what, value, declared in (
        ("dtype", config.dtype, target.dtypes),
        ("engine", config.engine, target.engines),
        ("size", config.size, tuple(target.sizes)),
    ):
        if value not in declared:
            return TargetError(spec, f"declares no {what} {value!r} (it declares "
                               f"{', '.join(declared)})")  # fmt: skip
    if kind != "auto" and kind not in target.devices:
        return TargetError(spec, f"declares no device {kind!r} (it declares "
                           f"{', '.join(target.devices)})")  # fmt: skip
    return None


def code_hash(spec: str, cls: type[Target]) -> str:
    """sha256 over the source files of the target's classes (its own and any it derives from,
    linreg's Target aside) and the data files it declares beside its own source."""
    files = list(source_files(cls))
    if not files:
        raise TargetError(spec, f"{cls.__name__} has no source file to hash (defined in a "
                          "notebook or interactively?); write it in a .py file")  # fmt: skip
    for name in cls.data_files:
        path = (files[0].parent / name).resolve()
        if not path.is_file():
            raise TargetError(spec, f"declares the data file {name!r}, which is not at {path}")
        files.append(path)
    digest = hashlib.sha256()
    for path in files:
        data = path.read_bytes()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def source_files(cls: type[Target]) -> tuple[Path, ...]:
    """The source files of the target's classes, its own first; () where one has none."""
    files: list[Path] = []
    for klass in cls.__mro__:
        if not issubclass(klass, Target) or klass is Target:
            continue
        try:
            source = inspect.getsourcefile(klass)
        except TypeError:
            source = None
        if source is None:
            return ()
        if Path(source).resolve() not in files:
            files.append(Path(source).resolve())
    return tuple(files)


def _split(spec: str) -> tuple[str, str | None]:
    location, colon, name = spec.rpartition(":")
    if not colon or not name.isidentifier():
        return spec, None
    return location, name


def _is_file(location: str) -> bool:
    return location.endswith(".py") or os.sep in location or "/" in location


def _import(spec: str, location: str) -> ModuleType:
    if _is_file(location):
        return _import_file(spec, Path(location).expanduser())
    try:
        with _guarded(spec, "importing it"):
            return importlib.import_module(location)
    except ModuleNotFoundError as exc:
        if exc.name is not None and location.startswith(exc.name):
            raise TargetError(spec, f"no module named {exc.name!r} (a file is written "
                              "FILE.py:NAME)") from None  # fmt: skip
        raise TargetError(spec, error_summary(exc)) from None
    except TargetError:
        raise
    except (Exception, SystemExit) as exc:  # the user's module: any failure is theirs
        raise TargetError(spec, error_summary(exc)) from None


def _import_file(spec: str, path: Path) -> ModuleType:
    if not path.exists():
        raise TargetError(spec, f"{path}: no such file")
    if not path.is_file():
        raise TargetError(spec, f"{path}: not a file")
    resolved = path.resolve()
    name = _PRIVATE_PREFIX + hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise TargetError(spec, f"{path}: not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    # Registered while it runs: dataclasses and pickling look a class's module up by name.
    sys.modules[name] = module
    try:
        with _guarded(spec, "importing it"), _beside(resolved.parent):
            module_spec.loader.exec_module(module)
    except TargetError:
        sys.modules.pop(name, None)
        raise
    except (Exception, SystemExit) as exc:  # the user's module: any failure is theirs
        sys.modules.pop(name, None)
        raise TargetError(spec, error_summary(exc, (resolved,))) from None
    return module


@contextlib.contextmanager
def _beside(folder: Path) -> Iterator[None]:
    """The file's folder first on sys.path while it is imported, as when it runs as a script,
    so it can import the modules beside it; given back after."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _find_class(spec: str, module: ModuleType, name: str | None) -> type[Target]:
    defined = sorted(
        attribute
        for attribute, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, Target)
        and value is not Target
        and value.__module__ == module.__name__
    )
    if name is None:
        if len(defined) != 1:
            found = ", ".join(defined) if defined else "none"
            raise TargetError(spec, f"name the target as {spec}:NAME (targets defined: {found})")
        name = defined[0]
    cls = getattr(module, name, None)
    if cls is None:
        found = ", ".join(defined) if defined else "none"
        raise TargetError(spec, f"defines no {name!r} (targets defined there: {found})")
    if not (isinstance(cls, type) and issubclass(cls, Target)):
        raise TargetError(spec, f"{name} is not a class deriving from linreg.Target")
    return cls


# torch's process-wide settings a target's import or builders must leave as they found them.
def _global_settings() -> dict[str, object]:
    import torch

    return {
        "the thread count": torch.get_num_threads(),
        "the default dtype": torch.get_default_dtype(),
        "the deterministic-algorithms flag": torch.are_deterministic_algorithms_enabled(),
        "grad mode": torch.is_grad_enabled(),
    }


@contextlib.contextmanager
def _guarded(spec: str, doing: str) -> Iterator[None]:
    """Refuse a target whose import changes torch's global settings (they are restored first):
    the harness sets what each run uses, so a target declares its dtypes instead of setting a
    default dtype, and a run takes --threads."""
    import torch

    from linreg.numerics import set_deterministic

    before = _global_settings()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        yield
    finally:
        after = _global_settings()
        torch.set_num_threads(before["the thread count"])
        torch.set_default_dtype(before["the default dtype"])
        set_deterministic(before["the deterministic-algorithms flag"], warn_only)
        torch.set_grad_enabled(before["grad mode"])
    changed = [name for name in before if before[name] != after[name]]
    if changed:
        name = changed[0]
        raise TargetError(
            spec,
            f"{doing} changed torch's {name.removeprefix('the ')} ({before[name]} → "
            f"{after[name]}); the harness sets what a run uses (declare dtypes, give --threads)",
        )


def error_summary(exc: BaseException, own_files: tuple[Path, ...] = ()) -> str:
    """A user's error in one line: where (file:line: the deepest frame in ``own_files``, the
    target's sources, else the deepest outside linreg and the import machinery) and what (its
    type and the first line of its message)."""
    where = None
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{_short(exc.filename)}:{exc.lineno}"
        message = exc.msg
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        own = {path.resolve() for path in own_files}
        chosen = [f for f in frames if Path(f.filename).resolve() in own] or [
            f for f in frames if not _is_machinery(f.filename)
        ]
        if chosen:
            where = f"{_short(chosen[-1].filename)}:{chosen[-1].lineno}"
        text = str(exc).strip()
        message = text.splitlines()[0][:200] if text else ""
    what = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"{where}: {what}" if where else what


def _is_machinery(filename: str) -> bool:
    """importlib's frames and linreg's own, the targets shipped with it aside."""
    if filename.startswith("<frozen importlib"):
        return True
    path = Path(filename).resolve()
    if path.parent == _PACKAGE_DIR / "targets":
        return False
    return _PACKAGE_DIR in path.parents


def _short(filename: str) -> str:
    """The path relative to the working folder where it lies under it, else as it is."""
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return filename


def check_runs_here(target: Target, config: TargetConfig) -> None:
    """Raise the TargetError of ``unsupported`` where there is one."""
    problem = unsupported(target, config)
    if problem is not None:
        raise problem
