"""Stack keys (linreg.stack): what decides an instruction count, and nothing that does not."""

from __future__ import annotations

import random

from linreg.stack import STACK_KEY_PATTERN, stack_key
from tests.instruction_files import HOST_A, HOST_B, KEY, STACK


def test_the_stack_key_reads_as_its_parts_and_is_a_folder_name():
    key = stack_key({**STACK, **HOST_A})
    assert key == KEY
    assert STACK_KEY_PATTERN.match(key) and "/" not in key


# The parts that change which code runs, each with values another stack has.
STACK_VARIANTS = {
    "torch": ["2.14.1+cpu", "2.13.0+cu126", "2.13.0", "2.13.0a0+git1234567"],
    "torch_git": ["0123456789abcdef0123456789abcdef01234567", None],
    "torch_debug": [True],
    "cuda": ["12.6"],
    "python": ["3.11.8", "3.12.7", "3.10.14"],
    "python_implementation": ["PyPy"],
    "os": ["macOS-14.2-arm64-arm-64bit", "Windows-10-10.0.19041-SP0"],
    "machine": ["aarch64", "arm64"],
    "torch_cpu_capability": ["AVX2", "DEFAULT", "ZVECTOR", "SVE256", None],
}
# What differs between two hosts of one stack.
HOST_VARIANTS = {
    "cpu": ["Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "AMD EPYC 9B14", "", None],
    "cpu_count": [1, 4, 96],
    "hostname": ["runner-1", "ci-7f3a"],
    "cpu_l3_cache": ["256 MiB", None],
    "cpu_flags_summary": ["sse4_2 avx avx2 fma", "avx avx2 avx512f"],
    "num_threads": [1, 64],
    "linreg_commit": ["abc", "def-dirty"],
    "env": [{"OMP_NUM_THREADS": "1"}],
}


def _random_environment(rng: random.Random) -> dict:
    env = {**STACK, **HOST_A}
    for name, values in rng.sample(sorted(HOST_VARIANTS.items()), 3):
        env[name] = rng.choice(values)
    return env


def test_a_different_stack_part_always_gives_a_different_key():
    """Property over generated fingerprints: change any one part of the stack (torch build,
    Python, OS, architecture, capability), whatever the host parts are, and the key changes."""
    rng = random.Random(7)
    for _ in range(300):
        env = _random_environment(rng)
        name = rng.choice(sorted(STACK_VARIANTS))
        other = {**env, name: rng.choice(STACK_VARIANTS[name])}
        if other[name] == env[name]:
            continue
        assert stack_key(other) != stack_key(env), (name, env[name], other[name])
        assert STACK_KEY_PATTERN.match(stack_key(other))


def test_two_hosts_of_one_stack_have_one_key():
    """Property: host name, CPU model string, core count, caches, flags and thread settings
    never enter the key."""
    rng = random.Random(11)
    for _ in range(300):
        first, second = _random_environment(rng), _random_environment(rng)
        assert stack_key(first) == stack_key(second) == KEY, (first, second)
    assert stack_key({**STACK, **HOST_A}) == stack_key({**STACK, **HOST_B})


def test_an_old_fingerprint_without_a_part_is_keyed_as_unknown_there():
    old = {k: v for k, v in STACK.items() if k != "torch_cpu_capability"}
    assert stack_key(old).endswith("-x86_64-unknown") and stack_key(old) != KEY
    assert stack_key({}) == "torch-unknown-unknown-unknown-unknown-unknown-unknown"
