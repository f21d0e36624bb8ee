"""Compare re-run outputs with recorded ones (ROS-free): per-step error, first divergence, and
PNG/HTML reports."""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Divergence:
    """Result of comparing one recorded series with its re-run.

    Attributes:
        name: what was compared ("actions", "latents").
        times_s: (N,) time of each step. step_error: (N,) max |new - recorded| over dims
        (inf where either side is non-finite). first_index: first step with error > atol (-1: none).
    """
    name: str
    times_s: np.ndarray
    recorded: np.ndarray
    new: np.ndarray
    dim_names: tuple[str, ...]
    atol: float
    step_error: np.ndarray = field(init=False)
    first_index: int = field(init=False)

    def __post_init__(self):
        r = np.asarray(self.recorded, dtype=np.float64)
        n = np.asarray(self.new, dtype=np.float64)
        if r.shape != n.shape or r.ndim != 2 or len(self.times_s) != r.shape[0]:
            raise ValueError(f"{self.name}: recorded {r.shape}, new {n.shape} and "
                             f"{len(self.times_s)} times do not line up")
        if not (np.isfinite(self.atol) and self.atol >= 0):
            raise ValueError(f"atol must be finite and >= 0, got {self.atol}")
        self.recorded, self.new = r, n
        err = np.abs(n - r)
        err[~(np.isfinite(r) & np.isfinite(n))] = np.inf
        self.abs_error = err
        self.step_error = err.max(axis=1) if err.size else np.zeros(r.shape[0])
        bad = np.nonzero(self.step_error > self.atol)[0]
        self.first_index = int(bad[0]) if bad.size else -1

    @property
    def diverged(self) -> bool:
        return self.first_index >= 0

    def summary(self) -> dict:
        e = self.abs_error
        finite = e[np.isfinite(e)]
        out = {"name": self.name, "steps": int(self.recorded.shape[0]), "atol": self.atol,
               "diverged": self.diverged,
               "steps_over_atol": int(np.sum(self.step_error > self.atol)),
               "max_abs_error": float(e.max()) if e.size else 0.0,
               "mean_abs_error": float(finite.mean()) if finite.size else 0.0,
               "rms_error": float(np.sqrt(np.mean(finite ** 2))) if finite.size else 0.0}
        if e.size:
            out["max_abs_error_per_dim"] = {d: float(v) for d, v in
                                            zip(self.dim_names, e.max(axis=0))}
        if self.diverged:
            i = self.first_index
            j = int(np.argmax(e[i]))
            out["first_divergence"] = {"index": i, "time_s": float(self.times_s[i]),
                                       "dim": self.dim_names[j] if j < len(self.dim_names) else str(j),
                                       "recorded": float(self.recorded[i, j]),
                                       "new": float(self.new[i, j]), "error": float(e[i, j])}
        return out

    def text(self) -> str:
        s = self.summary()
        line = (f"{self.name}: {s['steps']} steps, max |err| {s['max_abs_error']:.3g}, "
                f"rms {s['rms_error']:.3g}, {s['steps_over_atol']} over atol {self.atol:g}")
        if self.diverged:
            f = s["first_divergence"]
            line += (f"; FIRST DIVERGENCE at step {f['index']} (t={f['time_s']:.3f} s) on "
                     f"{f['dim']}: recorded {f['recorded']:.6g}, new {f['new']:.6g}")
        else:
            line += "; no divergence"
        return line


def plot_png(d: Divergence, path: Path, max_dims: int = 16) -> Path:
    """Recorded vs new per dimension (top) and per-step error (bottom)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(d.times_s) - (d.times_s[0] if len(d.times_s) else 0.0)
    # overlapping chunks: break the line where time goes back, so each chunk is one segment
    breaks = np.nonzero(np.diff(t) < 0)[0] + 1
    tb = np.insert(t, breaks, np.nan)
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for j in range(min(d.recorded.shape[1], max_dims)):
        label = d.dim_names[j] if j < len(d.dim_names) else str(j)
        line, = a.plot(tb, np.insert(d.recorded[:, j], breaks, np.nan), "-", lw=1, label=label)
        a.plot(tb, np.insert(d.new[:, j], breaks, np.nan), "--", lw=1, color=line.get_color())
    a.set_ylabel(f"{d.name} (solid recorded, dashed new)")
    if d.recorded.shape[1] <= 16:
        a.legend(fontsize=6, ncol=4)
    b.semilogy(tb, np.insert(np.maximum(d.step_error, 1e-12), breaks, np.nan), lw=1)
    b.axhline(max(d.atol, 1e-12), color="r", ls=":", label=f"atol {d.atol:g}")
    if d.diverged:
        b.axvline(t[d.first_index], color="k", ls="--", label="first divergence")
    b.set_xlabel("time since first step [s]")
    b.set_ylabel("max |new - recorded|")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_report(divs: list[Divergence], out_dir: str | Path, meta: dict | None = None) -> Path:
    """Write ``report.json``, one PNG per series and ``report.html`` (PNGs embedded)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"meta": meta or {}, "series": [d.summary() for d in divs]}
    (out / "report.json").write_text(json.dumps(summary, indent=2))
    parts = ["<html><head><meta charset='utf-8'><title>VLA re-run report</title></head><body>",
             "<h1>VLA re-run report</h1>",
             f"<pre>{html.escape(json.dumps(meta or {}, indent=2))}</pre>"]
    for d in divs:
        png = plot_png(d, out / f"{d.name}.png")
        b64 = base64.b64encode(png.read_bytes()).decode()
        parts += [f"<h2>{html.escape(d.name)}</h2>", f"<p>{html.escape(d.text())}</p>",
                  f"<img src='data:image/png;base64,{b64}'/>",
                  f"<pre>{html.escape(json.dumps(d.summary(), indent=2))}</pre>"]
    parts.append("</body></html>")
    (out / "report.html").write_text("\n".join(parts))
    return out / "report.html"
