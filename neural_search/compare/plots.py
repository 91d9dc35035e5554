"""The report's PNG plots, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

from .view import PUBLISHED, engine_names, mode_names, ok_modes

ENGINE_COLORS = {"embedded": "#4c72b0", "elasticsearch": "#dd8452", "opensearch": "#55a868", "solr": "#c44e52"}
MODE_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(engine: str, index: int) -> str:
    return ENGINE_COLORS.get(engine, f"C{index % 10}")


def plot_ndcg(results: dict, path: Path) -> Path:
    plt = _pyplot()
    engines, modes = engine_names(results), mode_names(results)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.5 * len(modes) + 2), 5.2))
    width = 0.8 / max(1, len(engines))
    for i, engine in enumerate(engines):
        xs, ys = [], []
        for j, mode in enumerate(modes):
            m = results["engines"][engine]["modes"].get(mode, {})
            if m.get("status") == "ok":
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(m["ndcg@10"])
        bars = ax.bar(xs, ys, width * 0.95, label=engine, color=_color(engine, i))
        for bar, y in zip(bars, ys):
            ax.annotate(f"{y:.3f}", (bar.get_x() + bar.get_width() / 2, y), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=6.5, rotation=90)
    dataset = results["dataset"]
    refs = PUBLISHED.get((dataset["name"], dataset["split"]), {}) if results["settings"].get("max_queries") is None else {}
    styles = iter([("--", "0.35"), (":", "0.35"), ("-.", "0.55")])
    for mode, entries in refs.items():
        for value, source in entries[:1]:
            style, color = next(styles, ("--", "0.5"))
            ax.axhline(value, linestyle=style, color=color, linewidth=1, label=f"published {mode} {value:.3f}")
    ax.set_xticks(range(len(modes)))
    ax.set_xticklabels(modes, rotation=20, ha="right")
    ax.set_ylabel("nDCG@10")
    top = max([m["ndcg@10"] for _, _, m in ok_modes(results)] + [v for e in refs.values() for v, _ in e] + [0.1])
    ax.set_ylim(0, top * 1.15)
    ax.set_title(f"nDCG@10 by engine and mode — {dataset['name']} ({dataset['split']}, {dataset['judged_queries']} queries)")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, path)


def _save(plt, fig, path: Path) -> Path:
    """Writes a finished figure as PNG and frees it (figures are not garbage-collected while pyplot holds them)."""
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_latency(results: dict, path: Path) -> Path:
    plt = _pyplot()
    engines, modes = engine_names(results), mode_names(results)
    levels = [str(c) for c in results["settings"]["concurrency"]]
    fig, axes = plt.subplots(len(levels), 1, figsize=(max(7.0, 1.5 * len(modes) + 2), 3.4 * max(1, len(levels))), squeeze=False)
    width = 0.8 / max(1, len(engines))
    for row, level in enumerate(levels):
        ax = axes[row][0]
        labeled: set[str] = set()
        for i, engine in enumerate(engines):
            for j, mode in enumerate(modes):
                m = results["engines"][engine]["modes"].get(mode, {})
                lat = m.get("latency", {}).get(level) if m.get("status") == "ok" else None
                if not lat:
                    continue
                x = j - 0.4 + width * (i + 0.5)
                ax.bar(x, lat["p50_ms"], width * 0.95, color=_color(engine, i), label=None if engine in labeled else engine)
                labeled.add(engine)
                ax.plot([x, x], [lat["p50_ms"], lat["p99_ms"]], color="0.25", linewidth=0.8)
                ax.plot(x, lat["p95_ms"], marker="_", color="0.1", markersize=7)
                ax.plot(x, lat["p99_ms"], marker="v", color="0.1", markersize=3.5)
        handles, labels = ax.get_legend_handles_labels()
        seen, h2, l2 = set(), [], []
        for h, lab in zip(handles, labels):
            if lab and lab not in seen:
                seen.add(lab)
                h2.append(h)
                l2.append(lab)
        from matplotlib.lines import Line2D

        h2 += [Line2D([], [], marker="_", color="0.1", linestyle="none", markersize=7), Line2D([], [], marker="v", color="0.1", linestyle="none", markersize=3.5)]
        l2 += ["p95", "p99"]
        ax.legend(h2, l2, fontsize=7.5, ncol=6, loc="upper left")
        ax.set_yscale("log")
        ax.set_ylabel("ms per query (log)")
        ax.set_xticks(range(len(modes)))
        ax.set_xticklabels(modes if row == len(levels) - 1 else [""] * len(modes), rotation=20, ha="right")
        ax.set_title(f"Latency at concurrency {level}: bar = p50, tick = p95, triangle = p99 (k={results['settings']['k']})", fontsize=10)
        ax.grid(axis="y", alpha=0.3, which="both")
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * 3)
    return _save(plt, fig, path)


def plot_quality_latency(results: dict, path: Path) -> Path:
    plt = _pyplot()
    from matplotlib.lines import Line2D

    engines, modes = engine_names(results), mode_names(results)
    level = str(results["settings"]["concurrency"][0]) if results["settings"]["concurrency"] else "1"
    fig, ax = plt.subplots(figsize=(9.5, 5.2))
    for e, mo, m in ok_modes(results):
        lat = m.get("latency", {}).get(level)
        if not lat:
            continue
        ax.scatter(lat["p50_ms"], m["ndcg@10"], s=55, color=_color(e, engines.index(e)), marker=MODE_MARKERS[modes.index(mo) % len(MODE_MARKERS)],
                   edgecolors="black", linewidths=0.5, zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency, ms (concurrency {level}, log scale)")
    ax.set_ylabel("nDCG@10")
    ax.set_title(f"Quality against latency — {results['dataset']['name']} ({results['dataset']['split']})")
    ax.grid(alpha=0.3, which="both")
    engine_handles = [Line2D([], [], marker="o", linestyle="none", color=_color(e, i), markeredgecolor="black", label=e) for i, e in enumerate(engines)]
    mode_handles = [Line2D([], [], marker=MODE_MARKERS[j % len(MODE_MARKERS)], linestyle="none", color="0.7", markeredgecolor="black", label=mo) for j, mo in enumerate(modes)]
    first = ax.legend(handles=engine_handles, title="engine", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.add_artist(first)
    ax.legend(handles=mode_handles, title="mode", fontsize=8, title_fontsize=8, loc="lower left", bbox_to_anchor=(1.01, 0.0))
    return _save(plt, fig, path)


def plot_recall_qps(results: dict, path: Path) -> Path:
    """The ANN sweep (sweep.py): recall@10 against QPS, one line per engine and index option
    (points in the order of the depth sweep), the Pareto front over all of them marked."""
    from .sweep_report import pareto, points

    plt = _pyplot()
    rows = points(results)
    fig, ax = plt.subplots(figsize=(9.5, 5.8))
    engines = list(dict.fromkeys(r["engine"] for r in rows))
    styles = ["-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1))]
    for i, engine in enumerate(engines):
        labels = list(dict.fromkeys(r["label"] for r in rows if r["engine"] == engine))
        for j, label in enumerate(labels):
            line = sorted((r for r in rows if r["engine"] == engine and r["label"] == label), key=lambda r: r["depth"])
            ax.plot([r["recall_at_10"] for r in line], [r["qps"] for r in line], linestyle=styles[j % len(styles)],
                    marker=MODE_MARKERS[j % len(MODE_MARKERS)], markersize=4, color=_color(engine, i), label=f"{engine} {label}")
    front = pareto(rows)
    ax.plot([r["recall_at_10"] for r in front], [r["qps"] for r in front], color="black", linewidth=0.8, alpha=0.6, zorder=1)
    ax.scatter([r["recall_at_10"] for r in front], [r["qps"] for r in front], s=90, facecolors="none", edgecolors="black",
               linewidths=1.2, zorder=5, label="Pareto front")
    for target in (0.95, 0.99):
        ax.axvline(target, color="0.6", linewidth=0.7, linestyle=":")
    ax.set_xlabel(f"recall@10 against exact kNN ({results['dataset']['queries']} queries)")
    ax.set_ylabel("queries per second (one client)")
    ax.set_yscale("log")
    synthetic = " (synthetic vectors)" if results["dataset"].get("synthetic") else ""
    ax.set_title(f"ANN sweep: {results['dataset']['name']}{synthetic}, {results['dataset']['documents']} vectors", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(plt, fig, path)
