#!/usr/bin/env python3
"""Summarizes an engine-benchmark JSON-lines file (bench/run.sh engine): medians as a Markdown
table with ratios to curl and, when the file holds two builds (--vs), the side-by-side table:
per-round a/b ratios, their median, the pairs each build won, a two-sided sign test and the
order effect. Exits 1 when a run failed or read wrong bytes.

  /usr/bin/python3 bench/lib/summarize_engine.py RESULTS.jsonl

Files from before bench/run.sh (tool "mmapurl@base" for BASE_BUILD's rows, no round) are read
too: their @base rows are build b, paired with a's by order of appearance."""
import json
import math
import statistics
import sys
from collections import defaultdict

path = sys.argv[1]
meta = {}
rows = []
for line in open(path):
    if not line.strip():
        continue
    r = json.loads(line)
    if r.get("meta"):
        meta = r
        continue
    if r.get("tool", "").endswith("@base"):
        r["tool"], r["build"] = r["tool"][: -len("@base")], "b"
    r.setdefault("build", "a")
    rows.append(r)
if not rows:
    sys.exit(f"{path}: no results")
two_builds = {r["build"] for r in rows} == {"a", "b"}


def lat(r, key):
    """A latency in µs; None where the scenario times none (a scan reports 0)."""
    v = r["latency_us"].get(key) if "latency_us" in r else r.get(f"{key}_us")
    return v or None


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.{digits}f}"


def label(tool, build):
    return f"{tool} ({build})" if two_builds and not tool.startswith(("curl", "fault-round-trip")) else tool


# --- every row: medians -----------------------------------------------------------------------
groups = defaultdict(list)
for r in rows:
    groups[(r["profile"], r["tool"], r["build"], r["scenario"])].append(r)
failed = [r for r in rows if r.get("ok") is False]

if meta:
    what = f"rows {meta.get('rows')}, {meta.get('size_mb')} MiB object, {meta.get('runs')} rounds"
    print(f"Engine benchmark, {meta.get('date', '')}: {what}; {meta.get('cpu', '')}, "
          f"{meta.get('cpus', '')} CPUs, kernel {meta.get('kernel', '')}, load average at start "
          f"{' '.join(meta.get('loadavg', []))}.")
    if meta.get("command"):
        print(f"Command: `{meta['command']}`")
    for k in ("a", "b"):
        if meta.get(k):
            b = meta[k]
            print(f"- {k}: `{b['binary']}` (commit {b['commit']}, {b['build_type']})")
    print()
print("| profile | tool | scenario | runs | MB/s | p50 µs | p99 µs | fetched/touched | max in flight "
      "| map ms | peak RSS MiB | bytes |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for (p, t, b, s), items in sorted(groups.items()):
    def m(key):
        return med(i.get(key) for i in items)
    touched, fetched = m("bytes_touched"), m("bytes_fetched")
    amp = fetched / touched if touched and fetched is not None else None
    rss = m("peak_rss_bytes")
    bad = sum(1 for i in items if i.get("ok") is False)
    checked = "" if t.startswith(("curl", "fault")) else (
        f"{bad} FAILED" if bad else ("verified" if all(i.get("verified") for i in items) else "unchecked"))
    print(f"| {p} | {label(t, b)} | {s} | {len(items)} | {fmt(m('mb_per_s'))} | "
          f"{fmt(med(lat(i, 'p50') for i in items), 0)} | {fmt(med(lat(i, 'p99') for i in items), 0)} | "
          f"{fmt(amp, 2)} | {fmt(m('max_requests_in_flight'), 0)} | {fmt(m('map_ms'))} | "
          f"{fmt(rss / 2**20 if rss else None, 0)} | {checked} |")
print()


def g(p, t, s, b="a"):
    return groups.get((p, t, b, s))


for p in sorted({k[0] for k in groups}):
    m, c = g(p, "mmapurl", "seq"), g(p, "curl", "seq")
    if m and c:
        print(f"- {p}: sequential mmapurl/curl = {med(i['mb_per_s'] for i in m) / med(i['mb_per_s'] for i in c):.2f}×")
    m, gets = g(p, "mmapurl", "rand"), g(p, "curl", "ranged-get-4k")
    if m and gets:
        print(f"- {p}: random 4 KiB fault p50 / one keep-alive ranged GET p50 = "
              f"{med(lat(i, 'p50') for i in m) / med(lat(i, 'p50') for i in gets):.2f}×")
    m1 = g(p, "mmapurl", "threads-rand")
    if m1 and m:
        print(f"- {p}: threads-rand MB/s / rand MB/s = {med(i['mb_per_s'] for i in m1) / med(i['mb_per_s'] for i in m):.2f}×")
    f = g(p, "fault-round-trip-unpinned", "uffd-4k")
    if m and gets and f:
        # The floor: one ranged GET plus one fault round trip through another thread.
        get, trip = med(lat(i, "p50") for i in gets), med(lat(i, "p50") for i in f)
        floor = get + trip
        print(f"- {p}: the floor, ranged GET p50 + fault round trip p50 (unpinned, no network) = "
              f"{get:.0f} + {trip:.0f} = {floor:.0f} µs = {floor / get:.2f}× the GET; "
              f"random fault p50 / floor = {med(lat(i, 'p50') for i in m) / floor:.2f}×")
    m4 = g(p, "mmapurl-4k", "rand")
    if m4 and gets:
        print(f"- {p}: with MMAPURL_RANDOM_FETCH=4K, random fault p50 / ranged GET p50 = "
              f"{med(lat(i, 'p50') for i in m4) / med(lat(i, 'p50') for i in gets):.2f}×")
    u = g(p, "mmapurl", "unmap")
    if u:
        print(f"- {p}: munmap_s3 with requests in flight: p50 {med(lat(i, 'p50') for i in u):.0f} µs, "
              f"max {max(lat(i, 'max') for i in u):.0f} µs ({sum(i['reads'] for i in u)} of "
              f"{20 * len(u)} unmaps had requests in flight)")
    mseq = g(p, "mmapurl", "seq")
    if mseq and mseq[0].get("bytes_touched"):
        print(f"- {p}: map time p50 {med(i['map_ms'] for i in mseq):.1f} ms "
              f"(object of {mseq[0]['bytes_touched'] / 2**20:.0f} MiB)")

# --- two builds: pairs --------------------------------------------------------------------------
# What each scenario is judged by; True: higher is better.
METRICS = {
    "seq": [("MB/s", lambda r: r.get("mb_per_s"), True),
            ("peak RSS MiB", lambda r: r.get("peak_rss_bytes", 0) / 2**20 or None, False)],
    "rand": [("p50 µs", lambda r: lat(r, "p50"), False), ("p99 µs", lambda r: lat(r, "p99"), False)],
    "unmap": [("p50 µs", lambda r: lat(r, "p50"), False)],
}
DEFAULT_METRICS = [("MB/s", lambda r: r.get("mb_per_s"), True), ("p50 µs", lambda r: lat(r, "p50"), False)]


def sign_test(wins, losses):
    """Two-sided p of a result at least this lopsided if either build were as likely to win."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


if two_builds:
    print()
    print("Side by side: a/b per round (a and b ran back to back, the order swapped every round). "
          "\"a won\" counts the pairs where a was better (higher MB/s, lower latency or RSS); the "
          "sign test's p is the chance of a split at least this lopsided if neither build were "
          "better. A difference shows only where p is small and the median ratio is away from 1.00.")
    print()
    print("| profile | tool | scenario | metric | a (median) | b (median) | a/b of medians | "
          "a/b per round | median a/b | a won | sign test p |")
    print("|---|---|---|---|---:|---:|---:|---|---:|---|---:|")
    order_ratios = []  # second/first, oriented so that > 1 means the second one did better
    for (p, t, s) in sorted({(k[0], k[1], k[3]) for k in groups if k[2] == "a"}):
        a_items, b_items = g(p, t, s, "a"), g(p, t, s, "b")
        if not b_items:
            continue
        def keyed(items):
            out, seen = {}, defaultdict(int)
            for i in items:
                if i.get("ok") is False:
                    continue
                key = i.get("round")
                if key is None:
                    key = seen[None] = seen[None] + 1
                out[key] = i
            return out
        ka, kb = keyed(a_items), keyed(b_items)
        pairs = [(ka[k], kb[k]) for k in sorted(set(ka) & set(kb))]
        for name, f, higher in METRICS.get(s, DEFAULT_METRICS):
            ratios, wins, losses = [], 0, 0
            for x, y in pairs:
                fx, fy = f(x), f(y)
                if not fx or not fy:
                    continue
                ratios.append(fx / fy)
                if fx != fy:
                    if (fx > fy) == higher:
                        wins += 1
                    else:
                        losses += 1
                if name in ("MB/s", "p50 µs") and "position" in x:
                    first, second = (fx, fy) if x["position"] == 1 else (fy, fx)
                    order_ratios.append(second / first if higher else first / second)
            if not ratios:
                continue
            ma, mb = med(f(i) for i in ka.values()), med(f(i) for i in kb.values())
            per = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"| {p} | {t} | {s} | {name} | {fmt(ma)} | {fmt(mb)} | {ma / mb:.3f} | {per} | "
                  f"{statistics.median(ratios):.3f} | {wins}/{len(ratios)} | {sign_test(wins, losses):.2f} |")
    if order_ratios:
        o = statistics.median(order_ratios)
        print()
        print(f"Order effect, all pairs of MB/s and p50 (second run against first, > 1: the second "
              f"did better): median {o:.3f} over {len(order_ratios)} pairs. The order is swapped "
              f"every round so that it cancels in the a/b ratios.")

if failed:
    print()
    print(f"FAILED: {len(failed)} run(s):")
    for r in failed:
        print(f"- {r['profile']} {label(r['tool'], r['build'])} {r['scenario']} round {r.get('round')}: "
              f"{r.get('error') or 'wrong bytes'}")
    sys.exit(1)
