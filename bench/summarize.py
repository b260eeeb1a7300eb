#!/usr/bin/env python3
"""Medians of a run-engine-bench.sh JSON-lines file, as a Markdown table with ratios."""
import json, statistics, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = defaultdict(list)
for r in rows:
    groups[(r["profile"], r["tool"], r["scenario"])].append(r)

def med(key, items):
    vals = [i[key] for i in items if key in i]
    return statistics.median(vals) if vals else float("nan")

print("| profile | tool | scenario | runs | MB/s | p50 µs | p99 µs | fetched/touched | max in flight | map ms | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (p, t, s), items in sorted(groups.items()):
    lat = [i.get("latency_us", {}) for i in items]
    p50 = statistics.median([l["p50"] for l in lat if l]) if any(lat) else med("p50_us", items)
    p99 = statistics.median([l["p99"] for l in lat if l]) if any(lat) else med("p99_us", items)
    amp = med("bytes_fetched", items) / med("bytes_touched", items) if "bytes_touched" in items[0] and med("bytes_touched", items) else float("nan")
    print(f"| {p} | {t} | {s} | {len(items)} | {med('mb_per_s', items):.1f} | {p50:.0f} | {p99:.0f} | {amp:.2f} | "
          f"{med('max_requests_in_flight', items):.0f} | {med('map_ms', items):.1f} | {med('peak_rss_bytes', items)/2**20:.0f} |")
print()
for p in sorted({k[0] for k in groups}):
    m = groups.get((p, "mmapurl", "seq")); c = groups.get((p, "curl", "seq"))
    if m and c:
        print(f"- {p}: sequential mmapurl/curl = {med('mb_per_s', m) / med('mb_per_s', c):.2f}×")
    m = groups.get((p, "mmapurl", "rand")); g = groups.get((p, "curl", "ranged-get-4k"))
    if m and g:
        mp50 = statistics.median([i["latency_us"]["p50"] for i in m])
        print(f"- {p}: random 4 KiB fault p50 / one keep-alive ranged GET p50 = {mp50 / med('p50_us', g):.2f}×")
    m1 = groups.get((p, "mmapurl", "threads-rand"))
    if m1 and m:
        print(f"- {p}: threads-rand MB/s / rand MB/s = {med('mb_per_s', m1) / med('mb_per_s', m):.2f}×")
    f = groups.get((p, "fault-round-trip-unpinned", "uffd-4k"))
    if m and g and f:
        # The floor: one ranged GET plus one fault round trip through another thread.
        floor = med('p50_us', g) + med('p50_us', f)
        mp50 = statistics.median([i["latency_us"]["p50"] for i in m])
        print(f"- {p}: the floor, ranged GET p50 + fault round trip p50 (unpinned, no network) = "
              f"{med('p50_us', g):.0f} + {med('p50_us', f):.0f} = {floor:.0f} µs = "
              f"{floor / med('p50_us', g):.2f}× the GET; random fault p50 / floor = {mp50 / floor:.2f}×")
    m4 = groups.get((p, "mmapurl-4k", "rand"))
    if m4 and g:
        mp50 = statistics.median([i["latency_us"]["p50"] for i in m4])
        print(f"- {p}: with MMAPURL_RANDOM_FETCH=4K, random fault p50 / ranged GET p50 = {mp50 / med('p50_us', g):.2f}×")
    u = groups.get((p, "mmapurl", "unmap"))
    if u:
        print(f"- {p}: munmap_s3 with requests in flight: p50 {statistics.median([i['latency_us']['p50'] for i in u]):.0f} µs, "
              f"max {max(i['latency_us']['max'] for i in u):.0f} µs ({sum(i['reads'] for i in u)} of {20 * len(u)} unmaps had requests in flight)")
    mseq = groups.get((p, "mmapurl", "seq"))
    if mseq:
        print(f"- {p}: map time p50 {statistics.median([i['map_ms'] for i in mseq]):.1f} ms (object of {mseq[0]['bytes_touched'] / 2**20:.0f} MiB)")
