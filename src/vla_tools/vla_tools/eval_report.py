"""HTML + PNG report of an evaluation directory (``episodes.jsonl`` + ``summary.json``).

    python -m vla_tools.eval_report runs/eval_franka_...
"""
from __future__ import annotations

import base64
import html
import json
import sys
from pathlib import Path


def load_episodes(out_dir: Path) -> list[dict]:
    """The episodes of ``episodes.jsonl``. A cut-off last line (the run was killed while writing
    it) is dropped with a warning; a bad line before the last is an error.

    Raises:
        ValueError: file missing, or a malformed line that is not the last.
    """
    p = Path(out_dir) / "episodes.jsonl"
    if not p.is_file():
        raise ValueError(f"{p} not found")
    lines = [(n, line) for n, line in enumerate(p.read_text().splitlines(), 1) if line.strip()]
    rows = []
    for i, (n, line) in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i < len(lines) - 1:
                raise ValueError(f"{p}:{n}: not a JSON episode ({e})") from e
            print(f"eval_report: warning: {p}:{n}: dropped a cut-off last line", file=sys.stderr)
    return rows


def rebuild_summary(out_dir: str | Path, eps: list[dict] | None = None) -> dict:
    """``summary.json`` from ``episodes.jsonl`` alone (a run killed before it wrote one); written
    with ``meta.rebuilt_from_episodes`` set. Returns the written dict.

    Args:
        eps: the episodes when the caller already loaded them (default: read them).

    Raises:
        ValueError: episodes.jsonl missing, malformed or empty.
    """
    from vla_tools.evaluate import summarize
    d = Path(out_dir)
    eps = load_episodes(d) if eps is None else eps
    if not eps:
        raise ValueError(f"{d / 'episodes.jsonl'} holds no episode")
    meta = {"rebuilt_from_episodes": True, "episodes_done": len(eps),
            "modes": sorted({e["mode"] for e in eps}), "tasks": sorted({e["task"] for e in eps}),
            "seeds": [min(e["seed"] for e in eps), max(e["seed"] for e in eps)],
            "backend": (eps[0].get("extra") or {}).get("backend")}
    s = {"meta": meta, "summary": summarize(eps)}
    (d / "summary.json").write_text(json.dumps(s, indent=2, default=str) + "\n")
    return s


def plot(episodes: list[dict], summary: dict, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    modes = list(summary)
    tasks = sorted({t for m in summary.values() for t in m})
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    w = 0.8 / max(1, len(modes))
    x = np.arange(len(tasks))
    for i, m in enumerate(modes):
        ax[0].bar(x + i * w, [summary[m].get(t, {}).get("success_rate", 0) * 100 for t in tasks], w,
                  label=m)
        ax[2].bar(x + i * w, [summary[m].get(t, {}).get("mean_action_rate_hz") or 0 for t in tasks], w,
                  label=m)
    for a, title, yl in ((ax[0], "success rate", "%"), (ax[2], "achieved action rate", "Hz (sim time)")):
        a.set_xticks(x + w * (len(modes) - 1) / 2, tasks, fontsize=8)
        a.set_title(title)
        a.set_ylabel(yl)
        a.legend()
    for m in modes:
        for t in tasks:
            ts = [e["time_to_success_s"] for e in episodes
                  if e["mode"] == m and e["task"] == t and e.get("time_to_success_s") is not None]
            if ts:
                ax[1].hist(ts, bins=15, alpha=0.5, label=f"{m} {t}")
    ax[1].set_title("time to success")
    ax[1].set_xlabel("s (sim time)")
    if ax[1].has_data():
        ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def write_report(out_dir: str | Path) -> Path:
    """Write ``report.png`` and ``report.html`` into ``out_dir``; returns the HTML path.

    Without ``summary.json`` (the run was killed) it is rebuilt from ``episodes.jsonl`` first.

    Raises:
        ValueError: episodes.jsonl missing or malformed.
    """
    d = Path(out_dir)
    sp = d / "summary.json"
    eps = load_episodes(d)
    s = json.loads(sp.read_text()) if sp.is_file() else rebuild_summary(d, eps)
    summary, meta = s["summary"], s.get("meta", {})
    png = d / "report.png"
    plot(eps, summary, png)
    cols = ["episodes", "success_rate", "mean_time_to_success_s", "episodes_with_wrong_object_pick",
            "episodes_with_lift",
            "mean_jerk_rms_rad_s3", "safety_events", "mean_action_rate_hz", "mean_chunk_rate_hz",
            "mean_latent_rate_hz", "s1_compute_ms_p50", "s2_compute_ms_p50"]
    rows = "".join(
        "<tr><td>" + html.escape(m) + "</td><td>" + html.escape(t) + "</td>"
        + "".join(f"<td>{html.escape(str(v.get(c)))}</td>" for c in cols) + "</tr>"
        for m, per in summary.items() for t, v in per.items())
    ep_rows = "".join(
        f"<tr><td>{e['mode']}</td><td>{e['task']}</td><td>{e['seed']}</td>"
        f"<td>{html.escape(e['instruction'])}</td><td>{'yes' if e['success'] else 'no'}</td>"
        f"<td>{e.get('time_to_success_s')}</td><td>{e.get('wrong_object_picks')}</td></tr>"
        for e in eps)
    img = base64.b64encode(png.read_bytes()).decode()
    partial = ""
    if meta.get("interrupted") or meta.get("rebuilt_from_episodes"):
        partial = (f"<p><b>Partial run:</b> {len(eps)} episodes finished "
                   f"({'interrupted' if meta.get('interrupted') else 'summary rebuilt from episodes.jsonl'}).</p>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>VLA evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px}}
table{{border-collapse:collapse;margin-bottom:2em}}</style></head><body>
<h1>VLA evaluation: {html.escape(str(meta.get('robot', '')))}</h1>
<p>command: <code>{html.escape(str(meta.get('command', '')))}</code><br>
backend {html.escape(str(meta.get('backend')))}, seeds {html.escape(str(meta.get('seeds')))}
({meta.get('n_seeds')} per task), instructions {html.escape(str(meta.get('instructions') or 'sim training phrasings'))},
wall time {meta.get('wall_minutes')} min</p>{partial}
<img src="data:image/png;base64,{img}">
<h2>Summary</h2><table><tr><th>mode</th><th>task</th>{''.join(f'<th>{c}</th>' for c in cols)}</tr>{rows}</table>
<h2>Episodes</h2><table><tr><th>mode</th><th>task</th><th>seed</th><th>instruction</th><th>success</th>
<th>time to success s</th><th>wrong-object picks</th></tr>{ep_rows}</table></body></html>"""
    out = d / "report.html"
    out.write_text(page)
    return out


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m vla_tools.eval_report EVAL_DIR", file=sys.stderr)
        return 2
    try:
        print(write_report(args[0]))
    except ValueError as e:
        print(f"eval_report: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
