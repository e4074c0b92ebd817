"""Children started as a shell starts its foreground command, whatever this pytest inherited."""

import signal


def as_foreground() -> None:
    """Popen's ``preexec_fn`` for a child a test interrupts as Ctrl-C would: SIGINT at its
    default, as a shell gives its foreground job. A pytest started in the background (``nohup
    ... &``, a script's ``&``) has SIGINT ignored, its children inherit that across exec, and
    the Ctrl-C the test sends would never land."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
