"""compare.html's first screen: the trade-off table (the seed's rows, one column per database
and mode as run, grouped primary-replica / peer-to-peer), the small multiples over the same
columns, and what each column pools. Everything on it links to the runs it rests on."""

from __future__ import annotations

from html import escape
from itertools import groupby

from harness.report import charts
from harness.report.configs import Config
from harness.report.results import mode_word
from harness.report.run_links import Links, anchor
from harness.report.scaling import CAVEAT, ScalePoint
from harness.report.tradeoffs import ROWS, Cell, cells, columns

CELL_RUNS = 3  # run links shown in a cell; the rest are one click away, under the table

STYLE = """
table.glance{table-layout:fixed;width:100%;border-collapse:collapse;font-size:12px;margin:4px 0}
table.glance th,table.glance td{border:1px solid #e0e0e0;padding:3px 5px;vertical-align:top;
  max-width:none;overflow-wrap:anywhere;line-height:1.3}
table.glance col.rowtitle{width:128px}
table.glance thead th{background:#f5f5f5;text-align:left}
table.glance th.group{text-align:center;font-size:11px;letter-spacing:.06em;color:#424242;
  text-transform:uppercase;padding:2px}
table.glance th.pr{background:#e8eef7} table.glance th.pp{background:#f3ebf2}
table.glance th.col a{color:#212121;text-decoration:none;font-size:13px}
table.glance .set{font-weight:400;font-size:10.5px;color:#616161}
table.glance tbody th{background:#fafafa;font-weight:600;text-align:left}
table.glance td.nm{color:#757575;font-style:italic}
table.glance b.good{color:#006b4e} table.glance b.bad{color:#b33c00}
table.glance .runs{font-size:10.5px;white-space:nowrap}
table.glance .runs a{color:#757575}
td.edge,th.edge{border-left:2px solid #9e9e9e !important}
#glance-charts{width:100%;height:auto;display:block;margin-top:6px}
.keys{font-size:11px;color:#424242;margin:0 0 4px} .keys b{font-weight:600;margin-right:4px}
.key{display:inline-flex;align-items:center;gap:3px;margin-right:10px}
.lead{font-size:13px;margin:0 0 4px;color:#424242}
h1{margin:0 0 2px}
"""


def first_screen(configs: list[Config], points: list[ScalePoint], links: Links) -> list[str]:
    cols = columns(configs)
    runs = sum(len(c.runs) for c in cols)
    scale = f", and {len(points)} write-scaling runs" if points else ""
    out = [
        f'<p class="lead">{runs} runs in {len(cols)} columns{scale}. Each cell: a measured '
        "figure, a one-word judgement where one is honest, and the runs it rests on "
        "(r1, r2, ...). Hover a cell for the longer figures; "
        '<a href="#columns">what each column pools</a>, '
        '<a href="#how">how each row is measured</a>.</p>',
        '<div id="tradeoff-table">',
        _table(cols, points, links),
        "</div>",
    ]
    out += _charts(cols, points)
    out += _pooled(cols, links)
    out += _how()
    return out


def _edges(cols: list[Config]) -> set[int]:
    """Columns that start a topology group (drawn with a heavier left border)."""
    return {i for i in range(1, len(cols)) if cols[i].topology != cols[i - 1].topology}


def _table(cols: list[Config], points: list[ScalePoint], links: Links) -> str:
    edges = _edges(cols)
    groups = [(t, len(list(g))) for t, g in groupby(cols, key=lambda c: c.topology)]
    head = ["<tr><th></th>"]
    i = 0
    for topology, n in groups:
        cls = "pr" if topology == "primary-replica" else "pp"
        edge = " edge" if i in edges else ""
        head.append(f'<th class="group {cls}{edge}" colspan="{n}">{escape(topology)}</th>')
        i += n
    head.append("</tr><tr><th></th>")
    for i, c in enumerate(cols):
        settings = " · ".join(f"{k} {'/'.join(v)}" for k, v in c.settings.items())
        edge = " edge" if i in edges else ""
        head.append(
            f'<th class="col{edge}"><a href="#{anchor(c.title)}">{escape(c.title)}</a>'
            + (f'<div class="set">{escape(settings)}</div>' if settings else "")
            + "</th>"
        )
    head.append("</tr>")
    columns_cells = [cells(c, points) for c in cols]
    body = []
    for r, (title, basis) in enumerate(ROWS):
        tds = [
            _cell(col[r], links, anchor(c.title), i in edges)
            for i, (c, col) in enumerate(zip(cols, columns_cells, strict=True))
        ]
        body.append(
            f'<tr><th scope="row" title="{escape(basis)}">{escape(title)}</th>{"".join(tds)}</tr>'
        )
    return (
        f'<table class="glance"><colgroup><col class="rowtitle"><col span="{len(cols)}">'
        f"</colgroup><thead>{''.join(head)}</thead><tbody>{''.join(body)}</tbody></table>"
    )


def _cell(c: Cell, links: Links, col_anchor: str, edge: bool) -> str:
    classes = ([] if c.measured else ["nm"]) + (["edge"] if edge else [])
    cls = f' class="{" ".join(classes)}"' if classes else ""
    tip = f' title="{escape(c.detail)}"' if c.detail else ""
    word = f'<b class="{c.tone}">{escape(c.word)}</b>' if c.word else ""
    if word and c.text[:1] not in ":;,":
        word += " "
    runs = (
        f' <span class="runs">{links.many(c.runs, CELL_RUNS, "#" + col_anchor)}</span>'
        if c.runs
        else ""
    )
    return f"<td{cls}{tip}>{word}{escape(c.text)}{runs}</td>"


def _charts(cols: list[Config], points: list[ScalePoint]) -> list[str]:
    panels = [
        charts.availability(cols),
        charts.losses(cols),
        charts.anomalies(cols),
        charts.scaling(cols, points),
    ]
    kinds = sorted({m.series for p in panels[:2] for m in p.marks})
    models = [m for m in (*charts.MODELS, charts.OTHER) if m in panels[2].series()]
    nodes = ["1 node", "all nodes"]
    styles = {**charts.style(kinds), **charts.style(models, 4), **charts.style(nodes)}
    svg = charts.small_multiples(
        panels, [c.title for c in cols], [c.topology for c in cols], styles
    )
    keys = [
        f'<div class="keys"><b>fault kinds</b>{charts.legend(kinds, styles)}</div>'
        if kinds
        else "",
        f'<div class="keys"><b>consistency models</b>{charts.legend(models, styles)}'
        f'<b style="margin-left:14px">writes/s</b>{charts.legend(nodes, styles, False)}'
        f"<span>(one machine: protocol cost, not hardware scaling)</span></div>",
    ]
    return [svg, *keys]


def _pooled(cols: list[Config], links: Links) -> list[str]:
    """What each column pools: its configurations, each with its runs."""
    rows = []
    for c in cols:
        first = True
        for cfg in c.parts:
            # the --mode given, where the settings made the run something else
            given = [m for m in cfg.spec_modes if mode_word(cfg.db, m) != cfg.mode]
            what = f"{cfg.workload}" + (f" · {cfg.knobs}" if cfg.knobs else "")
            what += f" (--mode {', '.join(given)})" if given else ""
            name = (
                f'<th id="{anchor(c.title)}" rowspan="{len(c.parts)}">{escape(c.title)}</th>'
                if first
                else ""
            )
            rows.append(
                f"<tr>{name}<td>{escape(what)}</td><td>{links.many(cfg.runs, 50)}</td></tr>"
            )
            first = False
    return [
        '<h2 id="columns">What each column pools</h2>',
        '<table class="pooled"><thead><tr><th>column</th><th>configuration (workload · '
        "settings)</th><th>runs</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>",
    ]


def _how() -> list[str]:
    items = "".join(f"<li><b>{escape(t)}</b>: {escape(b)}</li>" for t, b in ROWS)
    return [
        '<h2 id="how">How each row is measured</h2>',
        f'<ul class="caption">{items}</ul>',
        '<p class="caption">"not measured" means no run could say (no checker for it, no '
        "fault of that kind, no scale run); it is never shown as 0. A percentage is never "
        "rounded up to 100% or down to 0% unless exact (99.97% shows as 99.97%, 99.999% as "
        f">99.99%). Write scaling: {escape(CAVEAT)}</p>",
    ]
