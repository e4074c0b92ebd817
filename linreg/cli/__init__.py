"""The `linreg` command line: thin typer commands over linreg.jobs and the suites."""

from __future__ import annotations

import errno
import importlib
import os
import sys

import typer

from linreg.errors import ConfigError, LinregError, TrainingDiverged
from linreg.paths import RESULTS_VARIABLE
from linreg.signals import SigtermState, sigterm_raises

app = typer.Typer(
    name="linreg",
    help="Benchmark and reproducibility harness for PyTorch, built on the tutorial's "
    "linear regression.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def fail(message: str) -> None:
    print(f"linreg: {message}", file=sys.stderr)


@app.callback()
def _commands(
    results: str | None = typer.Option(
        None,
        "--results",
        metavar="DIR",
        help="The results root every command writes under (runs, repro and bench results, "
        "sweeps, checkpoints, run/ab/gpu-run folders). Default: LINREG_RESULTS, else the "
        "working folder's results/. Committed references and baselines stay in the checkout.",
    ),
) -> None:
    """Keeps `linreg` a group of commands when only the chosen command's module is loaded; sets
    the results root for the command and every process it starts."""
    if results is not None:
        if not results.strip():
            raise ConfigError("results", "must name a folder")
        os.environ[RESULTS_VARIABLE] = str(os.path.abspath(results))


# Importing a command module registers its commands on `app`. Only the chosen command's module
# is imported (the others' imports, rich's tables among them, cost a command that needs torch a
# tenth of torch's own import); all of them for the list of commands, or a name not known here.
COMMAND_MODULES = {
    "ab": "ab_cmd",
    "bench": "bench_cmd",
    "bisect": "bisect_cmd",
    "compare": "compare_cmd",
    "env": "env_cmd",
    "explain": "explain_cmd",
    "gpu-run": "gpu_cmd",
    "history": "history_cmd",
    "report": "report_cmd",
    "repro": "repro_cmd",
    "run": "run_cmd",
    "sweep": "sweep_cmd",
    "target": "target_cmd",
    "train": "train_cmd",
    "evaluate": "train_cmd",
}


def load_commands(argv: list[str] | None = None) -> typer.Typer:
    """`app` with the command that ``argv`` names registered, or every command."""
    chosen = COMMAND_MODULES.get(argv[0]) if argv else None
    for module in [chosen] if chosen else dict.fromkeys(COMMAND_MODULES.values()):
        importlib.import_module(f"linreg.cli.{module}")
    return app


def _click_exceptions(name: str) -> tuple[type[BaseException], ...]:
    """The named exception class from click and from typer's vendored click (typer >= 0.20)."""
    found = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(getattr(__import__(module, fromlist=[name]), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


_USAGE_ERRORS = _click_exceptions("UsageError")
_NO_ARGS_IS_HELP = _click_exceptions("NoArgsIsHelpError")
_ABORT = _click_exceptions("Abort")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 a check failed, 2 bad input, 130 interrupted
    (Ctrl-C), 143 terminated (SIGTERM).

    Every expected error becomes one line on stderr; a traceback means a bug in linreg.
    """
    _tolerate_any_encoding()
    try:
        with sigterm_raises() as sigterm:
            code = _dispatch(argv, sigterm)
        if sigterm.received:
            fail("terminated")
            return 143
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (`| head`): nothing to say, nobody to say it to
        return 141
    except OSError as exc:
        # Result files are written through linreg.results, which names them in an OutputError;
        # a bare "disk full" or I/O error out here is the terminal's output that failed.
        if exc.errno not in _OUTPUT_ERRNOS and not _stdout_broken():
            raise
        fail(f"error: cannot write the output ({exc.strerror or exc})")
        _silence_stdout()
        return 2
    return code


_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO}


def _dispatch(argv: list[str] | None, sigterm: SigtermState) -> int:
    command = typer.main.get_command(load_commands(sys.argv[1:] if argv is None else argv))
    try:
        result = command.main(args=argv, prog_name="linreg", standalone_mode=False)
    except _NO_ARGS_IS_HELP:
        return 0  # the help text has been printed already
    except _USAGE_ERRORS as exc:
        fail(f"error: {exc.format_message()}")  # type: ignore[attr-defined]
        return 2
    except (*_ABORT, KeyboardInterrupt):
        # SIGTERM arrives as a KeyboardInterrupt too (Terminated); main() reports that one.
        if not sigterm.received:
            fail("interrupted")
        return 130
    except TrainingDiverged as exc:
        fail(f"{exc}; nothing was kept")
        return 1
    except ConfigError as exc:
        fail(f"error: {option_name(exc.field)}: {str(exc).split(': ', 1)[1]}")
        return 2
    except LinregError as exc:
        fail(f"error: {exc}")
        return 2
    if result == 130 and not sigterm.received:
        # typer turns Ctrl-C into Exit(130) before it reaches the handlers above
        fail("interrupted")
    return result if isinstance(result, int) else 0


def _tolerate_any_encoding() -> None:
    """Print what the terminal's encoding can show (µs becomes ?s under ASCII) rather than fail
    after the work is done."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


def _stdout_broken() -> bool:
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's own flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (a test's capture): nothing will flush it at exit


def entry() -> None:
    from linreg.process_exit import exit_process

    exit_process(main())
