#!/usr/bin/env python3
"""Draws docs/benchmarks/fleet.svg from the fleet benchmarks' data (no dependencies).

Input: a TSV written by scripts/bench/snmp-fleet.sh and snmp-efficiency.sh, one row per run:
source, tool, devices, ns per varbind, poll p50 ms, poll p99 ms. Output: two panels side by
side, CPU per varbind and poll latency against fleet size, log-scaled y axes (snmp_exporter and
ispmonitor differ by an order of magnitude). ispmonitor's points come from the fleet section,
snmp_exporter's from the efficiency section (where it was measured).

    python3 scripts/bench/chart.py docs/benchmarks/fleet.tsv docs/benchmarks/fleet.svg
"""

import math
import sys
from html import escape

WIDTH, HEIGHT = 920, 380
PANEL_W, PANEL_H = 360, 260
MARGIN_LEFT, MARGIN_TOP = 70, 60
GAP = 100
COLOURS = {"ispmonitor": "#1f77b4", "snmp_exporter": "#d62728"}
# Which section's rows stand for which tool on the chart.
SOURCES = {"ispmonitor": "fleet", "snmp_exporter": "efficiency"}


def number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 and math.isfinite(value) else None


def read_rows(path):
    """Rows as dicts; malformed or non-numeric figures become None."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 6:
                continue
            source, tool, devices, ns, p50, p99 = fields
            if SOURCES.get(tool) != source or number(devices) is None:
                continue
            rows.append({"tool": tool, "devices": int(float(devices)), "ns": number(ns),
                         "p50": number(p50), "p99": number(p99)})
    return rows


def log_range(values):
    """Decade bounds around the values (at least one decade)."""
    low = math.floor(math.log10(min(values)))
    high = math.ceil(math.log10(max(values)))
    return low, max(high, low + 1)


class Panel:
    """One chart: x is the fleet size on a log scale, y a log scale in decades."""

    def __init__(self, left, title, unit, x_values, y_values):
        self.left, self.title, self.unit = left, title, unit
        self.x_low, self.x_high = math.log10(min(x_values)), math.log10(max(x_values))
        if self.x_high == self.x_low:
            self.x_low, self.x_high = self.x_low - 0.3, self.x_high + 0.3
        self.y_low, self.y_high = log_range(y_values)
        self.x_ticks = sorted(set(x_values))

    def x(self, devices):
        share = (math.log10(devices) - self.x_low) / (self.x_high - self.x_low)
        return self.left + 20 + share * (PANEL_W - 40)

    def y(self, value):
        share = (math.log10(value) - self.y_low) / (self.y_high - self.y_low)
        return MARGIN_TOP + PANEL_H - share * PANEL_H

    def frame(self):
        out = [f'<rect x="{self.left}" y="{MARGIN_TOP}" width="{PANEL_W}" height="{PANEL_H}" '
               'fill="none" stroke="#888"/>',
               f'<text x="{self.left + PANEL_W / 2}" y="{MARGIN_TOP - 12}" text-anchor="middle" '
               f'font-weight="bold">{escape(self.title)}</text>']
        for decade in range(self.y_low, self.y_high + 1):
            for step in (1, 2, 5):
                value = step * 10 ** decade
                if value > 10 ** self.y_high:
                    break
                y = self.y(value)
                out.append(f'<line x1="{self.left}" x2="{self.left + PANEL_W}" y1="{y:.1f}" '
                           f'y2="{y:.1f}" stroke="#eee"/>')
                out.append(f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                           f'{value:g}</text>')
        for devices in self.x_ticks:
            x = self.x(devices)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_TOP}" '
                       f'y2="{MARGIN_TOP + PANEL_H}" stroke="#eee"/>')
            label = f"{devices // 1000}k" if devices % 1000 == 0 else str(devices)
            out.append(f'<text x="{x:.1f}" y="{MARGIN_TOP + PANEL_H + 16}" '
                       f'text-anchor="middle">{label}</text>')
        out.append(f'<text x="{self.left + PANEL_W / 2}" y="{MARGIN_TOP + PANEL_H + 34}" '
                   'text-anchor="middle">simulated routers (48 interfaces)</text>')
        out.append(f'<text transform="translate({self.left - 52},{MARGIN_TOP + PANEL_H / 2}) '
                   f'rotate(-90)" text-anchor="middle">{escape(self.unit)}</text>')
        return out

    def series(self, points, colour, dashed=False):
        points = sorted((d, v) for d, v in points if v is not None)
        if not points:
            return []
        path = " ".join(f"{self.x(d):.1f},{self.y(v):.1f}" for d, v in points)
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        out = [f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>']
        for d, v in points:
            out.append(f'<circle cx="{self.x(d):.1f}" cy="{self.y(v):.1f}" r="3.5" fill="{colour}"/>')
        return out


def render(rows):
    devices = [r["devices"] for r in rows]
    ns_values = [r["ns"] for r in rows if r["ns"]]
    ms_values = [v for r in rows for v in (r["p50"], r["p99"]) if v]
    if not devices or not ns_values or not ms_values:
        raise SystemExit("chart: no usable rows")
    cpu = Panel(MARGIN_LEFT, "Poller CPU per varbind", "ns of CPU per varbind", devices, ns_values)
    latency = Panel(MARGIN_LEFT + PANEL_W + GAP, "Poll latency (p50 solid, p99 dashed)",
                    "ms per device poll", devices, ms_values)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    out += cpu.frame() + latency.frame()
    for tool, colour in COLOURS.items():
        mine = [r for r in rows if r["tool"] == tool]
        out += cpu.series([(r["devices"], r["ns"]) for r in mine], colour)
        out += latency.series([(r["devices"], r["p50"]) for r in mine], colour)
        out += latency.series([(r["devices"], r["p99"]) for r in mine], colour, dashed=True)
    legend_x = MARGIN_LEFT
    for tool, colour in COLOURS.items():
        out.append(f'<rect x="{legend_x}" y="{HEIGHT - 24}" width="14" height="4" fill="{colour}"/>')
        out.append(f'<text x="{legend_x + 20}" y="{HEIGHT - 18}">{escape(tool)}</text>')
        legend_x += 160
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: chart.py DATA.tsv OUT.svg")
    svg = render(read_rows(sys.argv[1]))
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        handle.write(svg)


if __name__ == "__main__":
    main()
