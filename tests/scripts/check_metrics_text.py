"""Parses mmapurl_metrics_text output with prometheus_client's own parsers (the Prometheus text
format and OpenMetrics) and checks every number against the mmapurl_stats snapshot taken beside it.

usage: /usr/bin/python3 check_metrics_text.py METRICS.prom METRICS.om STATS.json
STATS.json: the Stats fields by name, and "fault_latency_us_log2" as a list of 32 counts.
Prints what it checked; exits 1 with the reasons on any mismatch."""
import json
import math
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_prom

COUNTERS = {  # family (without _total) -> Stats field
    "mmapurl_faults": "faults",
    "mmapurl_prefetch_hits": "prefetch_hits",
    "mmapurl_requests": "requests",
    "mmapurl_retries": "retries",
    "mmapurl_fetched_bytes": "bytes_fetched",
    "mmapurl_evicted_pages": "evictions",
    "mmapurl_failed_pages": "failed_pages",
    "mmapurl_staging_buffers_mapped": "staging_buffers_mapped",
    "mmapurl_cache_filled_pages": "cache_filled_pages",
}
GAUGES = {
    "mmapurl_resident_bytes": "resident_bytes",
    "mmapurl_in_flight_bytes": "in_flight_bytes",
    "mmapurl_cached_bytes": "cached_bytes",
    "mmapurl_connections": "connections",
    "mmapurl_max_requests_in_flight": "max_requests_in_flight",
}
HISTOGRAM = "mmapurl_fault_latency_seconds"

problems = []


def expect(cond, what):
    if not cond:
        problems.append(what)


def check(families, stats, fmt):
    by_name = {}
    for f in families:
        expect(f.name not in by_name, f"{fmt}: family {f.name} twice")
        by_name[f.name] = f
        expect(f.documentation != "", f"{fmt}: {f.name} has no HELP")
        for s in f.samples:
            extra = set(s.labels) - ({"le"} if f.type == "histogram" else set())
            expect(not extra, f"{fmt}: {s.name} carries labels {extra}")
    expect(set(by_name) == set(COUNTERS) | set(GAUGES) | {HISTOGRAM},
           f"{fmt}: families {sorted(by_name)}")

    for name, field in COUNTERS.items():
        f = by_name.get(name)
        if f is None:
            continue
        expect(f.type == "counter", f"{fmt}: {name} is a {f.type}")
        values = {s.name: s.value for s in f.samples}
        expect(values.get(name + "_total") == stats[field],
               f"{fmt}: {name}_total = {values.get(name + '_total')}, stats {field} = {stats[field]}")
    for name, field in GAUGES.items():
        f = by_name.get(name)
        if f is None:
            continue
        expect(f.type == "gauge", f"{fmt}: {name} is a {f.type}")
        expect([s.value for s in f.samples] == [stats[field]],
               f"{fmt}: {name} = {[s.value for s in f.samples]}, stats {field} = {stats[field]}")

    h = by_name.get(HISTOGRAM)
    if h is None:
        return
    expect(h.type == "histogram", f"{fmt}: {HISTOGRAM} is a {h.type}")
    log2 = stats["fault_latency_us_log2"]
    buckets = [(s.labels["le"], s.value) for s in h.samples if s.name.endswith("_bucket")]
    expect(len(buckets) == 32, f"{fmt}: {len(buckets)} buckets")
    cumulative = 0
    for i, (le, value) in enumerate(buckets[:-1]):
        cumulative += log2[i]
        expect(math.isclose(float(le), 2 ** (i + 1) / 1e6, rel_tol=1e-12), f"{fmt}: bucket {i} le={le}")
        expect(value == cumulative, f"{fmt}: le={le} holds {value}, stats say {cumulative}")
    total = sum(log2)
    expect(buckets[-1] == ("+Inf", total), f"{fmt}: +Inf bucket {buckets[-1]}, total {total}")
    count = [s.value for s in h.samples if s.name == HISTOGRAM + "_count"]
    expect(count == [total], f"{fmt}: _count {count}, total {total}")
    # The sum is estimated from midpoints: it must lie between the buckets' bounds.
    low = sum(c * (2 ** i if i else 0) for i, c in enumerate(log2)) / 1e6
    high = sum(c * 2 ** (i + 1) for i, c in enumerate(log2[:-1])) / 1e6 + log2[-1] * 2 ** 32 / 1e6
    sums = [s.value for s in h.samples if s.name == HISTOGRAM + "_sum"]
    expect(len(sums) == 1 and low <= sums[0] <= high, f"{fmt}: _sum {sums} outside [{low}, {high}]")
    print(f"{fmt}: {len(by_name)} families; faults {stats['faults']}, requests "
          f"{stats['requests']}, {total} latencies, sum {sums} s in [{low}, {high}]")


def main():
    prom_path, om_path, stats_path = sys.argv[1:4]
    with open(stats_path) as f:
        stats = json.load(f)
    with open(prom_path) as f:
        prom_text = f.read()
    with open(om_path) as f:
        om_text = f.read()
    try:
        check(list(parse_prom(prom_text)), stats, "prometheus")
    except ValueError as e:
        problems.append(f"prometheus parser refused the text: {e}")
    try:
        check(list(parse_om(om_text)), stats, "openmetrics")
    except ValueError as e:
        problems.append(f"openmetrics parser refused the text: {e}")
    # The Prometheus text is not OpenMetrics (no EOF, _total family names): a parser that took it
    # would mean the two formats were not told apart.
    try:
        list(parse_om(prom_text))
        problems.append("the openmetrics parser accepted the Prometheus text")
    except ValueError:
        pass
    for p in problems:
        print("MISMATCH:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
