"""The `linreg` command line: thin typer commands over linreg.jobs and friends."""

from __future__ import annotations

import sys

import typer

from linreg.errors import ConfigError, LinregError, TrainingDiverged

app = typer.Typer(
    name="linreg",
    help="Benchmark and reproducibility harness for PyTorch, built on the tutorial's "
    "linear regression.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Importing the command modules registers their commands on `app`.
from linreg.cli import (  # noqa: E402, F401
    bench_cmd,
    compare_cmd,
    env_cmd,
    report_cmd,
    repro_cmd,
    run_cmd,
    sweep_cmd,
    train_cmd,
)


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


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


def fail(message: str) -> None:
    print(f"linreg: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 a check failed, 2 bad input, 130 interrupted.

    Every expected error becomes one line on stderr; a traceback means a bug in linreg.
    """
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="linreg", standalone_mode=False)
    except _NO_ARGS_IS_HELP:
        return 0  # the help text has been printed already
    except _USAGE_ERRORS as exc:
        fail(f"error: {exc.format_message()}")  # type: ignore[attr-defined]
        return 2
    except (*_ABORT, KeyboardInterrupt):
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
    if result == 130:  # typer turns Ctrl-C into Exit(130) before it reaches the handlers above
        fail("interrupted")
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())
