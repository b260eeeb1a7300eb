#!/usr/bin/python3
"""Summarizes the peer benchmark's JSON lines (bench/run.sh peers): medians of the runs, ratios to curl and to the
best FUSE peer, the issue's targets checked, a markdown section and a PNG chart.

  /usr/bin/python3 bench/peers/summarize.py RESULTS.jsonl [--markdown OUT.md] [--chart OUT.png]
"""
import argparse
import os
import json
import statistics
import sys
from collections import defaultdict

MIB = 1 << 20
ORDER = ["curl-https", "curl-s3", "curl-https-x16", "mmapurl-https", "mmapurl-s3", "mmapurl-https-cache",
         "mmapurl-s3-cache", "s3fs", "s3fs-tuned",
         "rclone-off", "rclone-full", "rclone-full-tuned", "httpdirfs", "httpdirfs-cache"]
FUSE = {"s3fs", "s3fs-tuned", "rclone-off", "rclone-full", "rclone-full-tuned", "httpdirfs",
        "httpdirfs-cache"}
# The download baseline each contender is held against: the same server.
SAME_SERVER_CURL = {"mmapurl-https": "curl-https", "mmapurl-https-cache": "curl-https",
                    "httpdirfs": "curl-https",
                    "httpdirfs-cache": "curl-https"}
PROFILE_TITLE = {"none": "unshaped loopback",
                 "s3like": "S3-like: 20 ms RTT, 50 MB/s per connection"}
WORKLOAD_TITLE = {"seq": "sequential scan", "rand": "random 4 KiB pages, one thread",
                  "threads-rand": "random 4 KiB pages, 8 threads"}


class Cell:
    """One contender in one profile and workload: the median of its good runs."""

    def __init__(self, rows):
        self.rows = rows
        self.good = [r for r in rows if ok(r)]
        self.failures = [failure_text(r) for r in rows if not ok(r)]

    def median(self, key):
        values = [v for v in (key(r) for r in self.good) if v is not None]
        return statistics.median(values) if values else None

    @property
    def failed(self):
        return not self.good

    def status(self):
        if not self.failures:
            return "ok, bytes verified"
        reasons = sorted(set(self.failures))
        return f"FAILED {len(self.failures)}/{len(self.rows)}: " + "; ".join(reasons)

    seconds = property(lambda self: self.median(lambda r: r["result"]["seconds"]))
    mbps = property(lambda self: self.median(lambda r: r["result"]["mb_per_s"]))
    p50 = property(lambda self: self.median(lambda r: lat(r, "p50")))
    p99 = property(lambda self: self.median(lambda r: lat(r, "p99")))
    net = property(lambda self: self.median(lambda r: r.get("net_bytes")))
    rss = property(lambda self: self.median(total_rss))


def nginx_tls_text(meta):
    """Runs before nginx was given `ssl_protocols` spoke TLS 1.2 (no "nginx_protocols" in meta)."""
    if "TLSv1.3" in meta.get("nginx_protocols", ""):
        text = (" (TLS 1.3, which nginx 1.23.4 and later offer by default; Debian 12's nginx 1.22 "
                "is told to with `ssl_protocols`)")
    else:
        text = " (TLS 1.2: Debian 12's nginx 1.22 offers no more by default)"
    # Runs before 2026-12-05 had one nginx worker (no "nginx_workers" in meta).
    if meta.get("nginx_workers") == "auto":
        return text + ", with one nginx worker per CPU (`worker_processes auto`, Debian's default)."
    return text + ", with one nginx worker."


def network_text(meta):
    """How a results file's network was set up and counted: runs before the unshaped profile went
    direct had a counting splice(2) proxy in its path (no "unshaped_path" in their meta line)."""
    if meta.get("unshaped_path") == "direct":
        forwarder = (" (`--splice`: it copies nothing in user space)"
                     if meta.get("shaper") == "splice" else "")
        return ("- S3-like: every measurement starts its own `mmapurl-shaper`" + forwarder +
                " in front of the "
                "server, so every contender sees the same network; *network MiB* is what the "
                "shaper carried from the server to the contender (including TLS and HTTP "
                "overhead). Unshaped: contenders connect straight to the server (a counting "
                "proxy took CPU from the client it measured, more from one with more "
                "connections); *network MiB* is loopback's byte counter over the measurement, "
                "both directions with TCP/IP headers.")
    return ("- Every measurement starts its own `mmapurl-shaper` in front of the server (when "
            "unshaped a pass-through with splice(2), `--splice`, which copies nothing in user "
            "space), so every contender sees the same network; *network MiB* is what the "
            "shaper carried from the server to the contender (including TLS and HTTP overhead).")


def warm_up_text(meta):
    """Runs before bench/lib/warm_up.sh touched guest memory have no "warm_memory_mb" in meta."""
    mb = meta.get("warm_memory_mb")
    if mb is None:
        return ("- Before each measurement, untimed: the servers' files are read into the page "
                "cache (this VM pages out what was not touched for a minute).")
    text = ("- Before each measurement, untimed, for every contender alike (`bench/lib/warm_up.sh`): "
            "the servers' files are read into the page cache (this VM pages out what was not "
            "touched for a minute)")
    if mb > 0:
        text += (f", and {mb} MiB of memory are touched and freed: this VM's host takes back "
                 "memory the guest has freed (free page reporting), and first touching such a page "
                 "faults on the host, which a contender that fills memory (a mapping, a FUSE "
                 "peer's page cache) paid at random and curl -o /dev/null never did")
    return text + "."


def verify_text(meta):
    """How the readers checked bytes: runs before page digests ("verify" in meta) compared with a
    mapped local copy."""
    if meta.get("verify") == "page digests":
        return ("both check every byte against the local copy's page digests, made before the "
                "timed part (each byte read once; the copy is not mapped, so it is in no RSS).")
    return ("both compare every byte with a local copy (which both map, so both RSS figures "
            "include the touched part of that copy).")


def ok(row):
    res = row.get("result")
    return not row.get("failure") and res is not None and res.get("ok", False)


def failure_text(row):
    if row.get("failure"):
        return row["failure"][:160]
    res = row.get("result") or {}
    return ("wrong bytes: " + res.get("error", "")) if res else "no result"


def lat(row, key):
    return (row["result"].get("latency_us") or {}).get(key)


def total_rss(row):
    """Peak RSS of everything the contender runs: the reader (or uffd-bench, curl) + daemon."""
    own = row["result"].get("peak_rss_bytes")
    daemon = row.get("daemon_peak_rss_bytes")
    if own is None:
        return None
    return own + (daemon or 0)


def load(path):
    meta, rows, verified = {}, [], {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get("meta"):
                meta = r
            elif r.get("workload") == "verify":
                verified[(r["contender"], r["profile"])] = r["verified"]
            else:
                rows.append(r)
    return meta, rows, verified


def build_cells(rows, verified):
    groups = defaultdict(list)
    for r in rows:
        key = (r["profile"], r["workload"], r["contender"])
        # curl's timed runs write to /dev/null; its bytes are checked by one separate download.
        if r["contender"].startswith("curl") and verified.get((r["contender"], r["profile"])) is False:
            r = dict(r, failure="downloaded bytes differ from the object")
        groups[key].append(r)
    return {k: Cell(v) for k, v in groups.items()}


def fmt(v, digits=1, scale=1.0):
    if v is None:
        return "–"
    v = v / scale
    return f"{v:,.{digits}f}"


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.{digits}f}×"


def best_peer(cells, profile, workload, key, lowest):
    candidates = [(key(c), name) for (p, w, name), c in cells.items()
                  if p == profile and w == workload and name in FUSE and not c.failed
                  and key(c) is not None]
    if not candidates:
        return None, None
    v, name = (min if lowest else max)(candidates)
    return name, v


def contenders_in(cells, profile, workload):
    names = {n for (p, w, n) in cells if p == profile and w == workload}
    return [n for n in ORDER if n in names] + sorted(names - set(ORDER))


def seq_table(cells, profile):
    out = []
    best, best_v = best_peer(cells, profile, "seq", lambda c: c.mbps, lowest=False)
    out.append(f"Sequential scan. Best FUSE peer: **{best or 'none'}**.\n")
    out.append("| contender | MB/s | time s | network MiB | peak RSS MiB | vs curl (same server) "
               "| vs best FUSE peer | status |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for name in contenders_in(cells, profile, "seq"):
        c = cells[(profile, "seq", name)]
        curl = cells.get((profile, "seq", SAME_SERVER_CURL.get(name, "curl-s3")))
        curl_v = curl.mbps if curl and not curl.failed else None
        vs_curl = "–" if name.startswith("curl") else ratio(c.mbps, curl_v)
        out.append(f"| {name} | {fmt(c.mbps)} | {fmt(c.seconds, 2)} | {fmt(c.net, 1, MIB)} | "
                   f"{fmt(c.rss, 0, MIB)} | {vs_curl} | {ratio(c.mbps, best_v)} | {c.status()} |")
    return out


def random_table(cells, profile, workload):
    out = []
    best, best_t = best_peer(cells, profile, workload, lambda c: c.seconds, lowest=True)
    best_cell = cells.get((profile, workload, best)) if best else None
    best_net = best_cell.net if best_cell else None
    best_p99 = best_cell.p99 if best_cell else None
    title = WORKLOAD_TITLE[workload]
    out.append(f"{title[0].upper() + title[1:]}. Best FUSE peer (total time): "
               f"**{best or 'none'}**. curl rows: the whole download, the price of reading any "
               "page with download-first.\n")
    out.append("| contender | total s | MB/s | p50 µs | p99 µs | network MiB | peak RSS MiB "
               "| time vs best peer | p99 vs best peer | bytes vs best peer | status |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name in contenders_in(cells, profile, "seq"):
        if name.startswith("curl"):
            c = cells[(profile, "seq", name)]
            out.append(f"| {name} (download first) | {fmt(c.seconds, 2)} | – | – | – | "
                       f"{fmt(c.net, 1, MIB)} | {fmt(c.rss, 0, MIB)} | "
                       f"{ratio(c.seconds, best_t)} | – | {ratio(c.net, best_net)} | {c.status()} |")
    for name in contenders_in(cells, profile, workload):
        c = cells[(profile, workload, name)]
        out.append(f"| {name} | {fmt(c.seconds, 3)} | {fmt(c.mbps, 2)} | {fmt(c.p50, 0)} | "
                   f"{fmt(c.p99, 0)} | {fmt(c.net, 1, MIB)} | {fmt(c.rss, 0, MIB)} | "
                   f"{ratio(c.seconds, best_t)} | {ratio(c.p99, best_p99)} | "
                   f"{ratio(c.net, best_net, 3)} | {c.status()} |")
    return out


def check(label, value, target, higher_is_better):
    if value is None:
        return f"| {label} | – | {target} | not measured (failed or missing) |"
    met = value >= target if higher_is_better else value <= target
    sign = "≥" if higher_is_better else "≤"
    return f"| {label} | {value:.2f} | {sign} {target:g} | {'met' if met else '**not met**'} |"


def targets(cells):
    """The issue's targets, each against the best FUSE peer of the same profile and workload."""
    out = ["| target | measured | goal | verdict |", "|---|---:|---:|---|"]

    def get(profile, workload, name, attr):
        c = cells.get((profile, workload, name))
        return None if c is None or c.failed else getattr(c, attr)

    def div(a, b):
        return None if a is None or b in (None, 0) else a / b

    # The tuned (-cache) contenders download the whole object: the table shows which targets
    # each configuration meets (their unshaped network bytes cannot).
    for m in ("mmapurl-https", "mmapurl-s3", "mmapurl-https-cache", "mmapurl-s3-cache"):
        if not any(n == m for (_, _, n) in cells):
            continue
        curl = SAME_SERVER_CURL.get(m, "curl-s3")
        for profile, seq_goal in (("none", 1.5), ("s3like", 2.0)):
            if not any(p == profile for (p, _, _) in cells):
                continue
            tag = "unshaped" if profile == "none" else "S3-like"
            best, best_mbps = best_peer(cells, profile, "seq", lambda c: c.mbps, lowest=False)
            out.append(check(f"{tag}: {m} seq / best FUSE peer ({best})",
                             div(get(profile, "seq", m, "mbps"), best_mbps), seq_goal, True))
            if profile == "none":
                goal = 1.0 if m.startswith("mmapurl-https") else 0.9
                out.append(check(f"{tag}: {m} seq / {curl}",
                                 div(get(profile, "seq", m, "mbps"),
                                     get(profile, "seq", curl, "mbps")), goal, True))
            rbest, rbest_t = best_peer(cells, profile, "rand", lambda c: c.seconds, lowest=True)
            out.append(check(f"{tag}: {m} random total time / best FUSE peer ({rbest})",
                             div(get(profile, "rand", m, "seconds"), rbest_t), 0.5, False))
            if profile == "none":
                out.append(check(f"{tag}: {m} random network bytes / {rbest}'s",
                                 div(get(profile, "rand", m, "net"),
                                     get(profile, "rand", rbest, "net")), 0.125, False))
            else:
                out.append(check(f"{tag}: {m} random p99 / {rbest}'s",
                                 div(get(profile, "rand", m, "p99"),
                                     get(profile, "rand", rbest, "p99")), 0.5, False))
                tbest, tbest_v = best_peer(cells, profile, "threads-rand", lambda c: c.mbps,
                                           lowest=False)
                out.append(check(f"{tag}: {m} 8-thread random MB/s / best FUSE peer ({tbest})",
                                 div(get(profile, "threads-rand", m, "mbps"), tbest_v), 2.0, True))
                for w in ("seq", "rand", "threads-rand"):
                    key = (lambda c: c.mbps) if w != "rand" else (lambda c: -c.seconds)
                    b, _ = best_peer(cells, profile, w, key, lowest=False)
                    out.append(check(f"{tag}: {m} {w} peak RSS / best FUSE peer's ({b})",
                                     div(get(profile, w, m, "rss"), get(profile, w, b, "rss")),
                                     1.0, False))
    return out


def shrunk_note(meta):
    """Says how a run was made smaller than the full one, from its own parameters (or None)."""
    cmd = meta.get("command", "")
    timeout = next((int(w.split("=", 1)[1]) for w in cmd.split()
                    if w.startswith("TIMEOUT=") and w.split("=", 1)[1].isdigit()), 600)
    size_mib = meta.get("size_bytes", 1024 * MIB) // MIB
    parts = []
    if size_mib < 1024:
        parts.append(f"a {size_mib} MiB object (not 1 GiB)")
    if meta.get("random_reads", 2000) < 2000:
        parts.append(f"{meta['random_reads']} random pages (not 2000)")
    if meta.get("runs", 3) < 3:
        parts.append(f"{meta['runs']} runs (not 3)")
    if timeout < 600:
        parts.append(f"TIMEOUT={timeout} s per measurement (not 600)")
    only = next((w.split("=", 1)[1].strip('"') for w in cmd.split()
                 if w.startswith("CONTENDERS=")), None)
    if only:
        parts.append(f"only the contenders matching `{only}` (the best FUSE peer is the best of "
                     "those run)")
    if not parts:
        return None
    return ("This run was shrunk: " + ", ".join(parts) + ". The full run is "
            "`sudo bench/run.sh peers` (SIZE_MB=1024 RUNS=3 RANDOM_READS=2000 TIMEOUT=600).")


# Where the peer bench writes its chart; the markdown names it when --chart is not given.
DEFAULT_CHART = "bench/peers/chart.png"


def markdown(meta, cells, source, note=None, chart_path=DEFAULT_CHART):
    out = ["## Peer benchmark: mmapurl against curl, s3fs, rclone mount and httpdirfs", ""]
    # Runs before bench/run.sh recorded the script's old name.
    cmd = meta.get("command", "bench/run.sh peers").replace("bench/run-peer-bench.sh", "bench/run.sh peers")
    v = meta.get("versions", {})
    out += [
        f"Command: `{cmd}` (as root on Debian 12; installs what it needs). Results: "
        f"`{source}`; chart: `{chart_path}`.",
        "",
    ]
    for paragraph in (shrunk_note(meta), note):
        if paragraph:
            out += [paragraph, ""]
    out += [
        f"Machine: {meta.get('cpu', '?')}, {meta.get('cpus', '?')} CPUs, "
        f"{meta.get('mem_mb', '?')} MiB RAM, kernel {meta.get('kernel', '?')}; date "
        f"{meta.get('date', '?')}. Object: {meta.get('size_bytes', 0) // MIB} MiB of random "
        f"bytes; {meta.get('random_reads', '?')} random 4 KiB pages (the same sequence for "
        f"every contender); {meta.get('threads', '?')} threads; median of "
        f"{meta.get('runs', '?')} runs, contenders alternated (the order rotates each run).",
        "",
        f"Versions: s3fs {v.get('s3fs')}, rclone {v.get('rclone')}, httpdirfs "
        f"{v.get('httpdirfs')}, curl {v.get('curl')}, nginx {v.get('nginx')}, s3rver "
        f"{v.get('s3rver')}.",
        "",
        "How it is measured:",
        network_text(meta),
        warm_up_text(meta),
        "- Every FUSE peer is mounted afresh for each measurement (cold kernel page cache, "
        "empty disk cache) and read by `bench/peers/mmap_reader.cpp`, which mmaps the file and "
        "runs what `uffd-bench` runs, with the same random sequence; " + verify_text(meta) +
        " *peak RSS* = reader or uffd-bench or curl VmHWM + the FUSE daemon's VmHWM "
        "(kernel page cache not counted).",
        "- curl is timed writing to /dev/null (the issue's baseline, no verification cost); "
        "its bytes are checked by one extra, untimed download per profile.",
        "- A timeout is the reader not finishing within the script's TIMEOUT: reported as a "
        "failure, like wrong bytes. A median is over the runs that succeeded; the status says "
        "how many failed.",
        "- Settings that favour mmapurl: none deliberately. mmapurl runs with defaults and, as "
        "`-cache`, with its documented performance settings (a disk cache with the whole-object "
        "background download, like s3fs's `use_cache`, in the same directory the FUSE peers' "
        "caches use); the peers run with defaults and with the documented performance settings "
        "named below. "
        "httpdirfs needs `--insecure-tls` (host-name check only) with the IP-address test "
        "certificate. The S3 peers talk plain HTTP to s3rver, mmapurl-https and httpdirfs "
        "talk HTTPS to nginx" + nginx_tls_text(meta),
        "",
        "Settings:",
        "",
    ]
    seen = {}
    for (p, w, n), c in cells.items():
        if c.rows:
            seen.setdefault(n, c.rows[0].get("settings", ""))
    for n in ORDER:
        if n in seen:
            out.append(f"- `{n}`: {seen[n]}")
    out.append("")
    profiles = [p for p in ("none", "s3like") if any(k[0] == p for k in cells)]
    for p in profiles:
        out += [f"### {PROFILE_TITLE.get(p, p)}", ""]
        out += seq_table(cells, p) + [""]
        for w in ("rand", "threads-rand"):
            if any(k[0] == p and k[1] == w for k in cells):
                out += random_table(cells, p, w) + [""]
    out += ["### The issue's targets", ""] + targets(cells) + [""]
    return "\n".join(out)


def chart(cells, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    profiles = [p for p in ("none", "s3like") if any(k[0] == p for k in cells)]
    fig, axes = plt.subplots(len(profiles), 3, figsize=(19, 5.6 * len(profiles)), squeeze=False)
    for row, p in enumerate(profiles):
        names = contenders_in(cells, p, "seq")
        for name in contenders_in(cells, p, "rand"):
            if name not in names:
                names.append(name)
        colors = ["#d62728" if n.startswith("mmapurl") else "#7f7f7f" if n.startswith("curl")
                  else "#1f77b4" for n in names]
        for col, (w, title, key, unit) in enumerate([
                ("seq", "sequential scan", lambda c: c.mbps, "MB/s"),
                ("threads-rand", "8 threads random 4 KiB", lambda c: c.mbps, "MB/s")]):
            ax = axes[row][col]
            vals = []
            for n in names:
                c = cells.get((p, w, n))
                vals.append(key(c) if c and not c.failed else None)
            xs = range(len(names))
            ax.bar(xs, [v or 0 for v in vals], color=colors)
            for x, v, n in zip(xs, vals, names):
                c = cells.get((p, w, n))
                label = ("n/a" if c is None else "FAILED" if v is None else f"{v:.0f}" if v >= 10
                         else f"{v:.2f}")
                if c is not None and v is not None and c.failures:
                    label += f"\n({len(c.failures)}/{len(c.rows)} failed)"
                ax.text(x, (v or 0), label, ha="center", va="bottom", fontsize=8,
                        rotation=90 if label == "FAILED" else 0)
            ax.set_xticks(list(xs))
            ax.set_xticklabels(names, rotation=40, ha="right", fontsize=9)
            ax.set_ylabel(f"{unit} (higher is better)")
            ax.set_title(f"{PROFILE_TITLE.get(p, p)}\n{title}", fontsize=10)
        ax = axes[row][2]
        rnames = contenders_in(cells, p, "rand")
        xs = list(range(len(rnames)))
        width = 0.38
        p50 = [cells[(p, "rand", n)].p50 if not cells[(p, "rand", n)].failed else None
               for n in rnames]
        p99 = [cells[(p, "rand", n)].p99 if not cells[(p, "rand", n)].failed else None
               for n in rnames]
        ax.bar([x - width / 2 for x in xs], [v or 0 for v in p50], width, label="p50",
               color="#2ca02c")
        ax.bar([x + width / 2 for x in xs], [v or 0 for v in p99], width, label="p99",
               color="#ff7f0e")
        for x, n, a, b in zip(xs, rnames, p50, p99):
            c = cells[(p, "rand", n)]
            if c.failed:
                ax.text(x, 0.02, "FAILED", ha="center", va="bottom", fontsize=8, rotation=90,
                        transform=ax.get_xaxis_transform())
            else:
                ax.text(x, max(a or 1, b or 1), f"{c.seconds:.1f} s", ha="center", va="bottom",
                        fontsize=7)
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels(rnames, rotation=40, ha="right", fontsize=9)
        ax.set_ylabel("latency per 4 KiB page, µs (log; lower is better)")
        ax.set_title(f"{PROFILE_TITLE.get(p, p)}\nrandom 4 KiB pages, one thread "
                     "(labels: total time)", fontsize=10)
        # Headroom above the tallest bar (log scale): the legend sat on its total-time label.
        tallest = max([v for v in p50 + p99 if v] or [1])
        ax.set_ylim(top=tallest * 30)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("mmapurl (red) vs download-first curl (grey) and FUSE mounts (blue), "
                 "same object, same server, same shaping; medians", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--markdown")
    ap.add_argument("--chart")
    ap.add_argument("--note", help="a paragraph placed under the command (e.g. why it was shrunk)")
    a = ap.parse_args()
    meta, rows, verified = load(a.results)
    if not rows:
        sys.exit(f"no measurements in {a.results}")
    cells = build_cells(rows, verified)
    text = markdown(meta, cells, os.path.relpath(a.results), a.note,
                    os.path.relpath(a.chart) if a.chart else DEFAULT_CHART)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    print(text)
    if a.chart:
        chart(cells, a.chart)
        print(f"chart: {a.chart}", file=sys.stderr)


if __name__ == "__main__":
    main()
