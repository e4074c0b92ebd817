"""What tells an A/B's two stacks apart, in words: the terminal's headline (`linreg ab`) and the
report's say the same.

A torch upgrade measured on a CPU machine against PyPI's default wheel changes two things at once:
the version and the build flavour (2.13.0+cpu against 2.14.1+cu130, a CUDA build whose CPU
kernels, libraries and start-up differ too). The headline says so, and where PyTorch's wheel
index of the reference's flavour would hold the candidate's version, how to compare like with
like.
"""

from __future__ import annotations

from linreg.results.ab_result import StackDifference


def stacks_clause(difference: StackDifference) -> str:
    """Short: "torch 2.13.0+cpu against 2.14.1+cu130: version and build flavour both differ"."""
    reference, candidate = difference.reference, difference.candidate
    if reference.torch_build == candidate.torch_build:
        said = f"torch {reference.torch_build} on both sides"
    else:
        said = f"torch {reference.torch_build} against {candidate.torch_build}: "
        if difference.version_differs and difference.flavour_differs:
            said += "version and build flavour both differ"
        elif difference.flavour_differs:
            flavours = f"{reference.flavour} against {candidate.flavour}"
            said += f"the same version, another build flavour ({flavours})"
        elif not difference.flavour_known:
            said += "another version; the build flavour was not recorded"
        elif difference.version_differs:
            said += f"another version, the same build flavour ({reference.flavour})"
        else:
            said += f"the same version and build flavour ({reference.flavour})"
    if difference.python_differs:
        said += f"; Python {reference.python} against {candidate.python}"
    return said


def stacks_headline(difference: StackDifference) -> str:
    """The clause, and where the flavours differ what that means and how to compare like with
    like."""
    said = stacks_clause(difference)
    if not difference.flavour_differs:
        return said
    said += "; a change between them may come from either."
    index = difference.like_for_like_index
    release = difference.candidate.release
    if index is not None:
        said += (
            f" For like with like, give the candidate the {difference.reference.flavour} build "
            f"of torch {release} where PyTorch publishes one: pip install torch=={release} "
            f"--index-url {index} (with nox: LINREG_TORCH_INDEX={index})."
        )
    else:
        said += (
            f" For like with like, give both sides builds of one flavour "
            f"({difference.reference.flavour} here)."
        )
    return said
