"""The verdict panel: the report's three answers, first thing on the page, one row each."""

from __future__ import annotations

import html

from linreg.report.answer import Answer, Verdicts
from linreg.report.tables import render_table

PANEL_STYLE = """
.verdict { margin: 0.6em 0 1.2em; border: 1px solid #d0d7de; border-radius: 6px; }
.answer { display: grid; grid-template-columns: 9.5em 1fr; gap: 0 1em; padding: 0.55em 0.9em;
  border-left: 8px solid #6b7280; }
.answer + .answer { border-top: 1px solid #d0d7de; }
.answer .question { font-weight: 700; font-size: 1.15em; margin: 0; }
.answer .headline { font-weight: 700; font-size: 1.15em; margin: 0 0 0.2em; }
.answer ul { margin: 0.1em 0 0; padding-left: 0; list-style: none; font-size: 0.9em; }
.answer li { margin: 0.15em 0; }
.answer .detail { display: block; color: #444; margin-left: 1.2em; }
.answer table.dataframe { margin: 0.2em 0 0; font-size: 0.85em; }
.answer > div > a { font-size: 0.85em; }
.answer.pass { border-left-color: #1a7f37; } .answer.pass .headline { color: #1a7f37; }
.answer.fail { border-left-color: #c62828; background: #fdecea; }
.answer.fail .headline, li.fail { color: #c62828; }
.answer.none .headline { color: #555; }
.answer.info { border-left-color: #0072B2; }
"""


def render_panel(verdicts: Verdicts) -> str:
    parts = ['<section id="verdict" class="verdict" data-verdict-panel>']
    for key, answer in zip(("reproduces", "speed", "regressed"), verdicts.answers, strict=True):
        parts.append(_answer(key, answer))
    parts.append("</section>")
    return "\n".join(parts)


def _answer(key: str, answer: Answer) -> str:
    items = []
    for line in answer.lines:
        cls = f' class="{line.status}"' if line.status else ""
        detail = f'<span class="detail">{html.escape(line.detail)}</span>' if line.detail else ""
        text = html.escape(line.text)
        if line.link:
            text = f'<a href="#{html.escape(line.link)}">{text}</a>'
        items.append(f"<li{cls}>{text}{detail}</li>")
    body = [f'<p class="headline">{html.escape(answer.headline)}</p>']
    if items:
        body.append(f"<ul>{''.join(items)}</ul>")
    if answer.table is not None and not answer.table.empty:
        body.append(render_table(answer.table))
    if answer.link:
        body.append(f'<a href="#{answer.link}">the evidence ↓</a>')
    return (
        f'<div class="answer {answer.status}" data-verdict="{key}" '
        f'data-status="{answer.status}">'
        f'<p class="question">{html.escape(answer.question)}</p>'
        f"<div>{''.join(body)}</div></div>"
    )
