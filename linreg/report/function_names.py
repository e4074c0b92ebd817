"""A standardised C++ or C function name shortened to a width, as the terminal's and the report's
function lists print it."""

from __future__ import annotations

import re


def short_function(name: str, width: int) -> str:
    """A standardised name that fits ``width``: the file without its folders, the C++
    parameter list and template arguments left out (``<…>``, "(anon)" for an anonymous
    namespace), then, if still too long, its middle (the start says whose, the end which)."""
    file, sep, function = _split_file(name)
    short = (file.rsplit("/", 1)[-1] + sep if file else "") + _without_parameters(function)
    short = _collapsed_templates(short).replace("(anonymous namespace)", "(anon)")
    if len(short) <= width:
        return short
    left = max((width - 1) // 2, 1)
    return f"{short[:left]}…{short[len(short) - (width - 1 - left) :]}"


def _split_file(name: str) -> tuple[str, str, str]:
    """("file", ":", "function") where a file precedes the function: the first ":" that is
    not part of a "::" and comes before any "(" or "<"."""
    for index, char in enumerate(name):
        if char in "(<":
            break
        if char == ":" and name[index + 1 : index + 2] != ":" and name[index - 1 : index] != ":":
            return name[:index], ":", name[index + 1 :]
    return "", "", name


def _without_parameters(function: str) -> str:
    """``ns::f(int, std::vector<int>) const`` → ``ns::f``: the trailing balanced (...)."""
    text = function.rstrip()
    for suffix in (" const", "'2"):
        text = text.removesuffix(suffix)
    if not text.endswith(")"):
        return function
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[index], 0)
        if depth == 0:
            head = text[:index]
            # "(anonymous namespace)" is a scope, not a parameter list.
            return head if head and not head.endswith("::") else function
    return function


def _collapsed_templates(text: str) -> str:
    """Each outermost ``<...>`` as ``<…>``, or as ``<…&f>`` where it names a function (a
    kernel wrapper's template says which kernel it wraps); text with unbalanced brackets
    (``operator<``) as is."""
    out: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(text):
        if char == "<":
            depth += 1
            if depth == 1:
                start = index
            continue
        if char == ">" and depth:
            depth -= 1
            if depth == 0:
                pointers = _FUNCTION_POINTER.findall(text[start : index + 1])
                out.append(f"<…&{pointers[-1]}>" if pointers else "<…>")
            continue
        if depth == 0:
            out.append(char)
    return text if depth else "".join(out)


# A function pointer among template arguments: "&ns::(anonymous namespace)::exp", its last name.
_FUNCTION_POINTER = re.compile(r"&(?:[\w:]|\(anonymous namespace\))*?(\w+)(?=\s*[>,])")
