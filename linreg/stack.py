"""Stack keys: what decides a case's instruction count, as a readable folder name.

Callgrind counts the instructions a call executes, so the count depends on the code that runs —
the torch build, the Python interpreter, the operating system, and the kernels torch's CPU
dispatch picks (``torch.backends.cpu.get_cpu_capability()``) — and not on the host's clock,
cache or load. Measured: the train case counted 334 M on one AMD EPYC host and 332.6 M on
another of the same stack (0.4 %). A baseline keyed by stack therefore gates on any runner of
that stack, where one keyed by machine name gates only on the machine that made it.

The key is built from a stored fingerprint (``linreg.env.capture_environment``, kept in every
bench file's ``machine_info["linreg_environment"]``), so old files can be keyed as well:
``torch-2.13.0+cpu-gcf30153-cpython-3.11.7-linux-x86_64-avx512``. What the key leaves out, by
choice: the host name, CPU model string, core count, cache sizes and clock (the same stack on
two hosts has one key), and the C library's version (the fingerprint does not hold it apart).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UNKNOWN = "unknown"
STACK_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.+_-]{0,199}$")
# A part keeps letters, digits, '.', '+' and '_'; anything else becomes one '-'.
_NOT_KEPT = re.compile(r"[^a-z0-9.+_]+")


def _part(value: Any) -> str:
    text = _NOT_KEPT.sub("-", str(value).strip().lower()).strip("-.")
    return text or UNKNOWN


@dataclass(frozen=True)
class Stack:
    """The parts of a stack key, each already a folder-name-safe word."""

    torch: str  # version with its local build tag: 2.13.0+cpu, 2.13.0+cu126
    torch_build: str  # the short git hash torch was built from, "debug" for a debug build
    python: str  # implementation and version: cpython-3.11.7
    os: str  # linux, darwin, windows
    arch: str  # x86_64, aarch64, arm64
    capability: str  # torch's CPU dispatch: avx2, avx512, default, ...

    @property
    def key(self) -> str:
        parts = [f"torch-{self.torch}", self.torch_build, self.python, self.os, self.arch,
                 self.capability]  # fmt: skip
        return "-".join(p for p in parts if p)


def stack_of(environment: Mapping[str, Any]) -> Stack:
    """The stack of a fingerprint (``capture_environment()``, or a stored one); a part the
    fingerprint lacks is "unknown", so such a file matches no measured stack."""
    torch_version = str(environment.get("torch") or UNKNOWN)
    cuda = environment.get("cuda")
    tag = f"cu{str(cuda).replace('.', '')}"
    if cuda and tag not in torch_version:
        # A CUDA build whose version does not say so (conda's, a source build): the tag pip's
        # wheels carry, as a PEP 440 local segment.
        torch_version += f"{'.' if '+' in torch_version else '+'}{tag}"
    git = str(environment.get("torch_git") or "")
    build = [f"g{git[:7]}"] if re.fullmatch(r"[0-9a-f]{7,40}", git) else []
    if environment.get("torch_debug"):
        build.append("debug")
    system = str(environment.get("os") or UNKNOWN).split("-", 1)[0]
    implementation = _part(environment.get("python_implementation") or UNKNOWN)
    return Stack(
        torch=_part(torch_version),
        torch_build=_part("-".join(build)) if build else "",
        python=f"{implementation}-{_part(environment.get('python') or UNKNOWN)}",
        os=_part(system),
        arch=_part(environment.get("machine") or UNKNOWN),
        capability=_part(environment.get("torch_cpu_capability") or UNKNOWN),
    )


def stack_key(environment: Mapping[str, Any]) -> str:
    """``torch-2.13.0+cpu-gcf30153-cpython-3.11.7-linux-x86_64-avx512``: a valid folder name."""
    key = stack_of(environment).key[:200].rstrip("-.")
    if not STACK_KEY_PATTERN.match(key):  # cannot happen with _part's alphabet; checked anyway
        raise ValueError(f"{key!r} is not a usable stack key")
    return key


def current_stack_key() -> str:
    """This process's stack key."""
    from linreg.env import fixed_fingerprint  # imports torch

    return stack_key(fixed_fingerprint())
