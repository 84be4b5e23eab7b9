"""The dashboard page (``GET /``): plain server-rendered HTML, no script and no build step.

For every registry model: its aliases, its versions with their held-out figures, each card,
the rate–distortion points of its versions (held-out ratio against SNDR, an inline SVG), the
A/B statistics measured on live requests, and the timeline of its events (registered, promoted,
drift seen, adapted, rolled back, A/B tallies). The shipped zoo follows with its cards. Every
value from the registry is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from html import escape
from typing import Any

import ratecraft
from ratecraft.registry.card import card_markdown
from ratecraft.registry.protocol import ModelRegistry, VersionInfo
from ratecraft.registry.zoo import zoo_card, zoo_models
from ratecraft.serve.models import ABTally

__all__ = ["render_dashboard"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f8f8f8;padding:.6em;overflow-x:auto;font-size:85%}
section{border-top:2px solid #ddd;margin-top:1.5em}.muted{color:#777}
"""


def _n(value: Any, spec: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float) and value >= 1e300:
        return "exact"
    return format(value, spec) if isinstance(value, int | float) else escape(str(value))


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _rd_svg(points: list[tuple[str, float, float]]) -> str:
    """Held-out (ratio, SNDR) of each version: x = log2 ratio, y = SNDR dB."""
    pts = [(label, r, s) for label, r, s in points if r and r > 0 and s is not None and s < 1e300]
    if not pts:
        return '<p class="muted">no held-out rate–distortion points yet</p>'
    w, h, pad = 420, 220, 40
    xs = [math.log2(r) for _, r, _ in pts]
    ys = [s for _, _, s in pts]
    x0, x1 = min(xs) - 0.5, max(xs) + 0.5
    y0, y1 = min(ys) - 2.0, max(ys) + 2.0

    def px(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (w - 2 * pad)

    def py(y: float) -> float:
        return h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad)

    order = sorted(range(len(pts)), key=lambda i: xs[i])
    line = " ".join(f"{px(xs[i]):.1f},{py(ys[i]):.1f}" for i in order)
    dots = "".join(
        f'<circle cx="{px(xs[i]):.1f}" cy="{py(ys[i]):.1f}" r="4" fill="#36c"/>'
        f'<text x="{px(xs[i]) + 6:.1f}" y="{py(ys[i]) - 6:.1f}" font-size="11">'
        f"{escape(pts[i][0])}</text>"
        for i in order
    )
    return (
        f'<svg width="{w}" height="{h}" role="img" aria-label="rate-distortion">'
        f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" fill="none" '
        'stroke="#999"/>'
        f'<polyline points="{line}" fill="none" stroke="#36c"/>{dots}'
        f'<text x="{w / 2:.0f}" y="{h - 8}" font-size="11" text-anchor="middle">'
        f"real ratio ({pts[order[0]][1]:.3g}x – {pts[order[-1]][1]:.3g}x, log scale)</text>"
        f'<text x="10" y="{pad - 10}" font-size="11">SNDR dB ({min(ys):.1f} – {max(ys):.1f})'
        "</text></svg>"
    )


def _version_table(versions: list[VersionInfo]) -> str:
    rows = []
    for v in versions:
        held = (v.card or {}).get("heldout") or {}
        rows.append(
            f"<tr><td>{v.version}</td><td>{escape(v.codec)}</td>"
            f"<td>{escape(', '.join(v.aliases)) or '–'}</td><td>{_when(v.created)}</td>"
            f'<td class="n">{_n(held.get("ratio"))}</td>'
            f'<td class="n">{_n(held.get("sndr_db"))}</td>'
            f'<td class="n">{_n(held.get("spike_f1"), ".3f")}</td>'
            f'<td class="n">{_n(held.get("lfp_sndr_db"))}</td>'
            f'<td class="n">{_n(held.get("nmse_mean"), ".3g")}</td></tr>'
        )
    return (
        "<table><tr><th>version</th><th>codec</th><th>aliases</th><th>created (UTC)</th>"
        "<th>held-out ratio</th><th>SNDR dB</th><th>spike F1</th><th>LFP SNDR dB</th>"
        "<th>family NMSE</th></tr>" + "".join(rows) + "</table>"
    )


def _ab_table(name: str, tallies: Mapping[str, ABTally], events: list[Any]) -> str:
    rows = []
    for label, tally in sorted(tallies.items()):
        if label.split("@")[0] != name:
            continue
        s = tally.summary()
        rows.append(
            f"<tr><td>{escape(label)}</td><td>live</td><td class='n'>{s['requests']}</td>"
            f"<td class='n'>{_n(s['mean_sndr_db'])}</td><td class='n'>{_n(s['mean_ratio'])}</td>"
            "</tr>"
        )
    for e in events:
        if e.kind == "ab":
            m = e.metrics
            rows.append(
                f"<tr><td>{escape(name)}@{e.version}</td><td>filed {_when(e.at)}</td>"
                f"<td class='n'>{_n(m.get('requests'), 'd')}</td>"
                f"<td class='n'>{_n(m.get('mean_sndr_db'))}</td>"
                f"<td class='n'>{_n(m.get('mean_ratio'))}</td></tr>"
            )
    if not rows:
        return '<p class="muted">no A/B split has served this model</p>'
    return (
        "<table><tr><th>version</th><th>tally</th><th>requests</th><th>mean SNDR dB</th>"
        "<th>mean ratio</th></tr>" + "".join(rows) + "</table>"
    )


def _timeline(events: list[Any]) -> str:
    if not events:
        return '<p class="muted">no events</p>'
    rows = []
    for e in events:
        figures = ", ".join(
            f"{escape(str(k))}={_n(v, '.4g') if isinstance(v, float) else escape(str(v))}"
            for k, v in list(e.metrics.items())[:6]
            if not isinstance(v, dict | list)
        )
        rows.append(
            f"<tr><td>{_when(e.at)}</td><td>{'–' if e.version is None else e.version}</td>"
            f"<td>{escape(e.kind)}</td><td>{escape(e.who)}</td><td>{escape(e.why)}</td>"
            f"<td>{figures}</td></tr>"
        )
    return (
        "<table><tr><th>when (UTC)</th><th>version</th><th>event</th><th>who</th><th>why</th>"
        "<th>figures</th></tr>" + "".join(rows) + "</table>"
    )


def render_dashboard(registry: ModelRegistry, tallies: Mapping[str, ABTally]) -> str:
    """The whole page as one HTML string."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ratecraft models</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>ratecraft models</h1><p class='muted'>ratecraft {escape(ratecraft.__version__)}"
        f" · registry {escape(registry.location)}"
        f" · rendered {_when(dt.datetime.now().timestamp())} UTC</p>",
    ]
    names = registry.names()
    if not names:
        parts.append("<p>No models registered yet (<code>ratecraft models register</code>).</p>")
    for name in names:
        versions = registry.versions(name)
        events = registry.events(name, limit=200)
        aliases = registry.aliases(name)
        alias_text = ", ".join(f"{escape(a)} → {v}" for a, v in aliases.items()) or "none"
        points = [
            (
                f"v{v.version}",
                ((v.card or {}).get("heldout") or {}).get("ratio"),
                ((v.card or {}).get("heldout") or {}).get("sndr_db"),
            )
            for v in versions
        ]
        parts += [
            f"<section><h2>{escape(name)}</h2><p>aliases: {alias_text}</p>",
            _version_table(versions),
            "<h3>Rate–distortion (held-out)</h3>",
            _rd_svg(points),  # type: ignore[arg-type]
            "<h3>A/B</h3>",
            _ab_table(name, tallies, events),
            "<h3>Drift and adaptation timeline</h3>",
            _timeline(events),
        ]
        for v in versions:
            parts.append(
                f"<details><summary>card of {escape(v.ref)}</summary>"
                f"<pre>{escape(card_markdown(v.card, v.ref))}</pre></details>"
            )
        parts.append("</section>")
    parts.append("<section><h2>Zoo (shipped with ratecraft)</h2>")
    for z in zoo_models():
        card = zoo_card(z)
        held = card.get("heldout") or {}
        parts.append(
            f"<h3>zoo:{escape(z)}</h3><p>{escape(str(card.get('description', '')))}</p>"
            f"<p>held-out: ratio {_n(held.get('ratio'))}, SNDR {_n(held.get('sndr_db'))} dB, "
            f"spike F1 {_n(held.get('spike_f1'), '.3f')}, LFP SNDR {_n(held.get('lfp_sndr_db'))}"
            f" dB</p><details><summary>card</summary>"
            f"<pre>{escape(card_markdown(card, 'zoo:' + z))}</pre></details>"
        )
    parts.append("</section></body></html>")
    return "".join(parts)
