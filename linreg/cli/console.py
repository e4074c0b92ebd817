"""The consoles every command prints through (stdout for results, stderr for errors)."""

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def say(text: str) -> None:
    """One line as it is: no markup (case ids hold [...]), no highlighting, wrapped by the
    terminal rather than cut."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def progress(text: str) -> None:
    """A progress line on stderr: plain, so that a CI log (not a terminal) shows it as it comes."""
    err_console.print(text, markup=False, highlight=False, soft_wrap=True)
