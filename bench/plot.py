#!/usr/bin/python3
"""plot.py [results.tsv [results.png]] - draw the bench matrix.

Reads the per-run rows bench/run.sh writes (case, broker, rep, then the
keys of each jbench line) and draws, per case, the median of each broker
side by side: throughput (deliveries/s where one message reaches several
subscribers, msgs/s otherwise; log scale, with the Junction/other ratio),
broker CPU microseconds per delivery, and, for idle-connection cases, the
broker RSS per connection. Uses Debian's python3-matplotlib, no display.
"""

import csv
import math
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

COLOURS = {
    "junction": "#1f77b4",
    "junction-durable": "#17becf",
    "mosquitto": "#ff7f0e",
    "rabbitmq": "#d62728",
}
LABELS = {
    "junction": "Junction",
    "junction-durable": "Junction (durable)",
    "mosquitto": "Mosquitto",
    "rabbitmq": "RabbitMQ",
}


def number(text):
    """A TSV cell as a float, or None when empty or not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def load(path):
    """{case: {broker: [row, ...]}} in the order cases first appear."""
    cases = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            cases.setdefault(row["case"], {}).setdefault(
                row["broker"], []).append(row)
    return cases


def median(rows, key):
    values = [v for v in (number(r.get(key)) for r in rows) if v is not None]
    return statistics.median(values) if values else None


def rate_key(rows):
    """deliveries/s when a message fans out to several subscribers."""
    pubs = median(rows, "pubs") or 1
    subs = median(rows, "subs") or 1
    return "deliveries_per_s" if subs > pubs else "msgs_per_s"


def series(cases, pick):
    """[(case, [(broker, value), ...])] for the cases pick() can value."""
    out = []
    for case, brokers in cases.items():
        bars = [(b, pick(rows)) for b, rows in brokers.items()]
        bars = [(b, v) for b, v in bars if v is not None]
        if bars:
            out.append((case, bars))
    return out


def draw(ax, data, title, log=False, ratios=False, values=False):
    """Horizontal grouped bars, first case at the top."""
    height = 0.8 / max(len(bars) for _, bars in data)
    for i, (case, bars) in enumerate(data):
        y = len(data) - 1 - i
        for j, (broker, value) in enumerate(bars):
            at = y + 0.4 - height * (j + 0.5)
            ax.barh(at, value, height, color=COLOURS.get(broker, "grey"),
                    label=LABELS.get(broker, broker))
            if values:
                ax.text(value, at, " %.0f" % value, va="center", fontsize=8)
        if ratios and len(bars) == 2 and bars[1][1] > 0:
            top = max(v for _, v in bars)
            ax.text(top * (1.15 if log else 1.02), y,
                    "x%.1f" % (bars[0][1] / bars[1][1]),
                    va="center", fontsize=8)
    ax.set_yticks(range(len(data)))
    ax.set_yticklabels([case for case, _ in reversed(data)], fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3, which="both" if log else "major")
    if log:
        # Bars start a decade below the smallest value, so the shorter
        # bar of a pair stays visible.
        low = min(v for _, bars in data for _, v in bars)
        ax.set_xscale("log")
        ax.set_xlim(10 ** math.floor(math.log10(low) - 0.5),
                    ax.get_xlim()[1] * 3)
    else:
        ax.set_xlim(0, ax.get_xlim()[1] * 1.15)


def legend(fig, axes):
    seen = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    fig.legend(seen.values(), seen.keys(), loc="lower center",
               ncol=len(seen), fontsize=9, frameon=False)


def main():
    tsv = sys.argv[1] if len(sys.argv) > 1 else "bench/results.tsv"
    png = sys.argv[2] if len(sys.argv) > 2 else "bench/results.png"
    cases = load(tsv)
    flows = {c: b for c, b in cases.items()
             if all(r.get("mode") == "flow" for rows in b.values()
                    for r in rows)}
    idle = {c: b for c, b in cases.items() if c not in flows}
    rate = series(flows, lambda rows: median(rows, rate_key(rows)))
    cpu = series(flows, lambda rows: median(rows,
                                            "broker_cpu_us_per_delivery"))
    rss = series(idle, lambda rows: median(rows, "rss_per_conn_b"))
    panels = [p for p in (rate, cpu) if p]
    if not panels:
        sys.exit("plot.py: no flow runs in %s" % tsv)
    widths = [3] * len(panels) + ([1.4] if rss else [])
    heights = max(4.0, 0.32 * len(rate) + 1.6)
    fig, axes = plt.subplots(
        1, len(widths), figsize=(5.2 * len(panels) + 2.6 * bool(rss),
                                 heights),
        gridspec_kw={"width_ratios": widths}, squeeze=False)
    axes = list(axes[0])
    draw(axes[0], rate, "median msgs/s (fan-out: deliveries/s), log scale;"
         "\nx = Junction / other", log=True, ratios=True)
    if cpu:
        draw(axes[1], cpu, "median broker CPU µs per delivery, log scale"
             "\n(lower is better)", log=True)
    if rss:
        draw(axes[-1], rss, "broker RSS bytes per\nidle connection",
             values=True)
        axes[-1].axvline(500, color="black", linestyle="--", linewidth=1)
        axes[-1].text(500, len(rss) - 0.58, " goal 500", fontsize=8,
                      va="top")
    legend(fig, axes)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
