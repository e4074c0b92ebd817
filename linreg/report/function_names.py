"""A standardised C++ or C function name shortened to a width, as the terminal's and the report's
function lists print it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable


def short_function(name: str, width: int) -> str:
    """A standardised name that fits ``width``: the file without its folders, the C++
    parameter list and template arguments left out (``<…>``, "(anon)" for an anonymous
    namespace), then, if still too long, its middle (the start says whose, the end which)."""
    return _middle_cut(_short_form(name), width)


def short_functions(names: Iterable[str], width: int) -> dict[str, str]:
    """Each name shortened to fit ``width`` (as ``short_function``), no two names alike.

    Two functions can share a short name: overloads differ only in the parameters that
    ``short_function`` leaves out, templates only inside the ``<…>`` it collapses, and a cut
    middle can hold the only difference. Names whose short forms meet are given more of
    themselves, step by step (parameters, then templates, then the file's folders), and where
    even the whole names meet at the width the cut moves to where they differ."""
    chosen: dict[str, str] = {}
    pending = sorted(set(names))
    for form in _FORMS:
        texts = {name: _middle_cut(form(name), width) for name in pending}
        counts = Counter(texts.values())
        taken = set(chosen.values())
        chosen.update({name: text for name, text in texts.items()
                       if counts[text] == 1 and text not in taken})  # fmt: skip
        pending = [name for name in pending if name not in chosen]
    chosen.update(_told_apart(pending, width, set(chosen.values())))
    return chosen


def _short_form(name: str) -> str:
    file, sep, function = _split_file(name)
    short = _file_name(file, sep) + _without_parameters(function)
    return _collapsed_templates(short).replace("(anonymous namespace)", "(anon)")


def _with_parameters(name: str) -> str:
    file, sep, function = _split_file(name)
    return _collapsed_templates(_file_name(file, sep) + function).replace(
        "(anonymous namespace)", "(anon)"
    )


def _with_templates(name: str) -> str:
    file, sep, function = _split_file(name)
    return _file_name(file, sep) + function


def _file_name(file: str, sep: str) -> str:
    return file.rsplit("/", 1)[-1] + sep if file else ""


# The forms a name is tried in, shortest first: each keeps more of what tells names apart.
_FORMS = (_short_form, _with_parameters, _with_templates, lambda name: name)


def _middle_cut(text: str, width: int) -> str:
    """``text`` within ``width``: its middle cut out (the start says whose, the end which)."""
    if len(text) <= width:
        return text
    left = max((width - 1) // 2, 1)
    return f"{text[:left]}…{text[len(text) - (width - 1 - left) :]}"


def _told_apart(names: list[str], width: int, taken: set[str]) -> dict[str, str]:
    """Whole names that still meet at ``width``: the cut placed where they differ, as one
    window kept between the start and the end; a number only where no window fits."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(_middle_cut(name, width), []).append(name)
    windowed = {name: text for group in groups.values()
                for name, text in _windows(group, width).items()}  # fmt: skip
    counts = Counter(windowed.values())
    chosen: dict[str, str] = {}
    for name in sorted(windowed):
        text = windowed[name]
        if counts[text] > 1 or text in taken:
            text = _numbered(name, width, taken | set(windowed.values()))
        chosen[name] = text
        taken.add(text)
    return chosen


def _windows(group: list[str], width: int) -> dict[str, str]:
    """Each name of ``group`` as start…window…end, the window at the same place in every one
    and spanning the positions where two of them part (where their common starts end)."""
    if len(group) == 1:
        return {group[0]: _middle_cut(group[0], width)}
    parts = [_common_prefix(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]
    low, high = min(parts), max(parts)
    spare = width - 2 - (high - low + 1)  # two "…" and the window itself
    if spare < 0:
        return {name: _middle_cut(name, width) for name in group}
    context = min(low, spare // 3)  # what comes just before the first difference
    head = min(low - context, spare // 3)
    tail = spare - context - head
    start = low - context
    out = {}
    for name in group:
        text = name[:head] + ("…" if start > head else "") + name[start : high + 1]
        rest = name[high + 1 :]
        out[name] = text + (rest if len(rest) <= tail + 1 else "…" + rest[len(rest) - tail :])
    return out


def _common_prefix(a: str, b: str) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def _numbered(name: str, width: int, taken: set[str]) -> str:
    """The name, cut, after the first number not yet shown: names no window tells apart."""
    for number in range(1, len(taken) + 2):
        mark = f"#{number} "
        text = mark + _middle_cut(name, max(width - len(mark), 3))
        if text not in taken:
            return text
    raise AssertionError("unreachable: a number is free among len(taken) + 1")


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
