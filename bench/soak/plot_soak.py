"""Plots an mmapurl-soak --csv file: RSS and heap, open descriptors and connections, and
throughput (bytes checked per second between samples) over time, into one PNG.

  /usr/bin/python3 bench/soak/plot_soak.py SOAK.csv OUT.png [--title TEXT]

Needs matplotlib (Debian: apt-get install python3-matplotlib). Quiet samples (workers parked,
the ones the growth bounds compare) are marked.
"""
import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--title", default="mmapurl-soak")
    a = ap.parse_args()
    with open(a.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit("no samples in " + a.csv)
    samples = [r for r in rows if r["kind"] == "sample"]
    quiet = [r for r in rows if r["kind"] == "quiet"]

    def col(rs, name, scale=1.0):
        return [float(r[name]) * scale for r in rs]

    fig, (mem, fds, tput) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    t = col(samples, "elapsed_s", 1 / 60)
    mem.plot(t, col(samples, "rss_kib", 1 / 1024), label="RSS")
    mem.plot(t, col(samples, "heap_kib", 1 / 1024), label="heap (malloc in use)")
    mem.plot(t, col(samples, "engine_kib", 1 / 1024), label="engine resident + in flight")
    mem.scatter(col(quiet, "elapsed_s", 1 / 60), col(quiet, "rss_kib", 1 / 1024), marker="x",
                color="black", label="RSS, quiet (compared)")
    mem.set_ylabel("MiB")
    mem.legend(loc="upper left", fontsize="small")
    fds.plot(t, col(samples, "fds"), label="open descriptors")
    fds.plot(t, col(samples, "connections"), label="engine connections")
    fds.plot(t, col(samples, "threads"), label="threads")
    fds.set_ylabel("count")
    fds.legend(loc="upper left", fontsize="small")
    # Throughput between consecutive samples (a quiet pause falls inside one interval).
    tt, mbps = [], []
    for prev, cur in zip(samples, samples[1:]):
        dt = float(cur["elapsed_s"]) - float(prev["elapsed_s"])
        if dt > 0:
            tt.append(float(cur["elapsed_s"]) / 60)
            mbps.append((float(cur["bytes_checked"]) - float(prev["bytes_checked"])) / dt / 1e6)
    tput.plot(tt, mbps, label="bytes read and checked")
    tput.set_ylabel("MB/s")
    tput.set_xlabel("minutes")
    tput.legend(loc="upper left", fontsize="small")
    fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.png, dpi=100)
    print("wrote", a.png)


if __name__ == "__main__":
    main()
