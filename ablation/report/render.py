"""A report as a list of blocks, rendered to Markdown and to self-contained HTML.

All text in blocks is plain text; each renderer escapes it for its format, so names
and tags from the store (which may hold ``|``, ``<script>``, quotes, ...) stay inert.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str
    kind: str = "p"  # "p" or "note"


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    frame: pd.DataFrame  # every cell is shown as str(value)
    caption: str = ""


@dataclass
class Image:
    path: Path  # absolute path of the PNG
    caption: str
    rel: str = ""  # path relative to the report folder, for Markdown


@dataclass
class Code:
    text: str


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> None:
        self.blocks.extend(blocks)


# ---- Markdown ------------------------------------------------------------------------

_MD_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "|": "\\|",
        "*": "\\*",
        "_": "\\_",
        "`": "\\`",
        "[": "\\[",
        "]": "\\]",
        "#": "\\#",
        "~": "\\~",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "\n": " ",
        "\r": " ",
    }
)


def md_escape(text) -> str:
    """Escape text for Markdown (tables included): no HTML, no emphasis, no table breaks."""
    return str(text).translate(_MD_ESCAPES)


def _md_table(t: Table) -> list[str]:
    cols = [md_escape(c) for c in t.frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in t.frame.itertuples(index=False):
        lines.append("| " + " | ".join(md_escape(v) for v in row) + " |")
    if t.caption:
        lines.append("")
        lines.append(f"*{md_escape(t.caption)}*")
    return lines


def to_markdown(doc: Document) -> str:
    out = [f"# {md_escape(doc.title)}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {md_escape(b.text)}")
        elif isinstance(b, Para):
            out.append(("> " if b.kind == "note" else "") + md_escape(b.text))
        elif isinstance(b, Bullets):
            out.extend(f"- {md_escape(i)}" for i in b.items)
        elif isinstance(b, Table):
            out.extend(_md_table(b))
        elif isinstance(b, Image):
            out.append(f"![{md_escape(b.caption)}]({b.rel})")
            out.append("")
            out.append(f"*{md_escape(b.caption)}*")
        elif isinstance(b, Code):
            fence = "````" if "```" in b.text else "```"
            out.extend([fence, b.text.replace(fence, ""), fence])
        out.append("")
    return "\n".join(out)


# ---- HTML ----------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1b1b;
background:#fafafa}
main{max-width:1150px;margin:0 auto;padding:1.5rem 2rem;background:#fff}
h1{font-size:1.6rem;border-bottom:2px solid #ddd;padding-bottom:.3rem;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #eee}
h3{font-size:1.05rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.82rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}
tr:nth-child(even) td{background:#fbfbfb}
td.v-within{background:#e3f4e3 !important}
td.v-above{background:#e3ecfb !important}
td.v-below{background:#fbe9e3 !important}
td.v-missing,td.v-notrun{color:#777;font-style:italic}
td.v-failed{background:#fde2e2 !important;color:#8a1010}
.note{color:#555;border-left:3px solid #ccc;padding-left:.7rem}
figure{margin:1rem 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#444}
pre{background:#f4f4f4;padding:.6rem;overflow-x:auto}
caption{caption-side:bottom;font-size:.8rem;color:#555;text-align:left;padding-top:.3rem}
.scroll{overflow-x:auto}
td.num{white-space:nowrap;font-variant-numeric:tabular-nums}
"""


# "91.8", "91.8 ± 1.2", "91.81 [90.93, 92.64]", "+2.40 [+1.90, +2.90]": kept on one line
_NUMERIC = re.compile(
    r"^[-+]?\d+(\.\d+)?( ± \d+(\.\d+)?| \\?\[[-+]?\d+(\.\d+)?, [-+]?\d+(\.\d+)?\\?\])?$"
)


def _cell_class(value: str) -> str:
    if _NUMERIC.match(value):
        return ' class="num"'
    v = value.strip().lower()
    for key, cls in (
        ("within", "v-within"),
        ("above", "v-above"),
        ("below", "v-below"),
        ("missing", "v-missing"),
        ("not run", "v-notrun"),
        ("failed", "v-failed"),
        ("killed", "v-failed"),
    ):
        if v.startswith(key) or (key == "failed" and " failed (" in v):
            return f' class="{cls}"'
    return ""


def _html_table(t: Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in t.frame.columns)
    body = []
    for row in t.frame.itertuples(index=False):
        tds = "".join(f"<td{_cell_class(str(v))}>{e(str(v))}</td>" for v in row)
        body.append(f"<tr>{tds}</tr>")
    cap = f"<caption>{e(t.caption)}</caption>" if t.caption else ""
    return (
        f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def to_html(doc: Document) -> str:
    """One self-contained page: inline CSS, images as base64 data URIs, no scripts."""
    e = html.escape
    parts = [f"<h1>{e(doc.title)}</h1>"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            lvl = min(max(b.level, 2), 4)
            parts.append(f"<h{lvl}>{e(b.text)}</h{lvl}>")
        elif isinstance(b, Para):
            cls = ' class="note"' if b.kind == "note" else ""
            parts.append(f"<p{cls}>{e(b.text)}</p>")
        elif isinstance(b, Bullets):
            parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            parts.append(_html_table(b))
        elif isinstance(b, Image):
            parts.append(
                f'<figure><img src="{_data_uri(b.path)}" alt="{e(b.caption)}">'
                f"<figcaption>{e(b.caption)}</figcaption></figure>"
            )
        elif isinstance(b, Code):
            parts.append(f"<pre>{e(b.text)}</pre>")
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(doc.title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )
