"""A pair of runs in words: what kind of pair it is (``linreg.compare.pair_rule``), and why a
pair was asked something other than its kind's level. No pandas: `linreg compare` says these."""

from __future__ import annotations

# What a kind of pair is (linreg.compare.pair_rule.pair_kind), in words.
PAIR_WORDS = {
    "determinism": "the same config on the same stack",
    "stack": "the same config on another stack",
    "dtype": "another dtype",
    "threads": "another thread count",
    "device": "another device",
    "engine": "another engine",
    "tf32": "TF32 on against off",
    "nondeterministic": "nondeterministic algorithms against deterministic ones",
    "training": "two trainings",
}


def twin_missing_words(requirement: str) -> str:
    """Why a pair that needs agreement as long as its twin was asked for something else: its
    twin's horizon is not among the inputs (``requirement``: what it was asked instead)."""
    asked = "the same outcome, as a dtype pair" if requirement == "c" else "the whole run within"
    if requirement != "c":
        asked += " tolerance"
    return (
        "its twin (the CPU one-thread eager run of its dtype) is not among the inputs, so its "
        f"horizon is not known: asked for {asked}"
    )
