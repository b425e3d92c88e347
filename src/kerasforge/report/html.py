"""Self-contained HTML pages: plain string templates, every value through ``html.escape``, images
embedded as base64 data URIs (no external URL, opens offline).

Example:
    >>> page("Run", [section("metrics", "Metrics", table(["metric", "value"], [["acc", 0.91]]))])[:15]
    '<!DOCTYPE html>'
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:14px 28px}
header h1{margin:0;font-size:20px} header .sub{color:#d0d7de;font-size:13px}
nav{background:#fff;border-bottom:1px solid #d0d7de;padding:6px 28px;position:sticky;top:0;z-index:1}
nav a{margin-right:14px;color:#0969da;text-decoration:none;font-size:13px}
main{padding:12px 28px;max-width:1500px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 18px;margin:12px 0}
section h2{margin:0 0 8px;font-size:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}
table{border-collapse:collapse;font-size:13px} td,th{border-bottom:1px solid #eaeef2;padding:3px 10px;text-align:left}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;border:1px solid #eaeef2;border-radius:6px;padding:8px;overflow:auto;font-size:12px;max-height:420px}
img{max-width:100%;height:auto}
.finding{border-left:4px solid #cf222e;padding:6px 12px;margin:8px 0;background:#fff8f8}
.finding.info{border-left-color:#0969da;background:#f3f8ff}
.finding h3{margin:0 0 4px;font-size:14px} .finding p{margin:2px 0}
.ok{border-left:4px solid #1a7f37;background:#f3fbf5;padding:6px 12px}
.code{font-family:ui-monospace,monospace;font-size:12px;color:#57606a}
.kpi{display:inline-block;margin-right:26px} .kpi b{font-size:20px;display:block}
.diff{background:#fff8c5}
"""


def page(title: str, sections: Sequence[str], *, subtitle: str = "", nav: Iterable[tuple[str, str]] = ()) -> str:
    """A whole HTML document from already-rendered sections."""
    links = "".join(f'<a href="#{escape(anchor)}">{escape(label)}</a>' for anchor, label in nav)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f'<header><h1>{escape(title)}</h1><div class="sub">{escape(subtitle)}</div></header>'
            + (f"<nav>{links}</nav>" if links else "")
            + "<main>" + "\n".join(s for s in sections if s) + "</main></body></html>\n")


def section(anchor: str, heading: str, body: str) -> str:
    """A titled section with an id (for links and tests)."""
    return f'<section id="{escape(anchor)}"><h2>{escape(heading)}</h2>{body}</section>'


def image(path: Path | None, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as a data URI ('' when there is no such file)."""
    if path is None or not Path(path).is_file():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def cell(value: Any) -> str:
    """One table cell: numbers right-aligned and rounded, everything else escaped text."""
    if isinstance(value, bool) or value is None:
        return f"<td>{escape(str(value if value is not None else '—'))}</td>"
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>' if abs(value) >= 1e-3 or value == 0 else f'<td class="num">{value:.3e}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, dict | list):
        return f'<td class="code">{escape(json.dumps(value, default=str)[:300])}</td>'
    return f"<td>{escape(str(value))}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, row_class: Sequence[str] | None = None) -> str:
    """An HTML table; ``row_class[i]`` adds a CSS class to row ``i``."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{escape(row_class[i])}"' if row_class and row_class[i] else ""
        body.append(f"<tr{cls}>" + "".join(cell(v) for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def preformatted(text: str) -> str:
    """Text shown as it is (YAML, model summaries)."""
    return f"<pre>{escape(text)}</pre>"


def findings_html(findings: Sequence[dict[str, str]]) -> str:
    """The diagnosis as a list of findings (or a line saying that nothing was found)."""
    if not findings:
        return '<div class="ok">No problems found: the curves, the loss and the labels look healthy.</div>'
    parts = []
    for f in findings:
        cls = "finding info" if f.get("severity") == "info" else "finding"
        parts.append(f'<div class="{cls}" data-code="{escape(f["code"])}"><h3>{escape(f["title"])} '
                     f'<span class="code">[{escape(f["code"])}]</span></h3>'
                     f'<p><b>Evidence:</b> {escape(f["evidence"])}</p><p><b>Fix:</b> {escape(f["fix"])}</p></div>')
    return "".join(parts)


def key_figures(figures: Sequence[tuple[str, Any]]) -> str:
    """Big numbers in a row (test accuracy, loss, epochs...)."""
    out = []
    for label, value in figures:
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        out.append(f'<span class="kpi"><b>{escape(shown)}</b>{escape(label)}</span>')
    return "<div>" + "".join(out) + "</div>"
