#!/usr/bin/env python3
"""Keep-alive 8 KiB ranged GETs, one after another with a pause between, for DURATION seconds:
what a reader's demand request meets while another client's bulk download loads the same server
(and shaper). Writes 'unix_time_at_answer milliseconds' lines to OUT.
  prober.py HOST PORT CAFILE DURATION PAUSE_S OUT"""
import http.client
import random
import ssl
import sys
import time

host, port, cafile, duration, pause, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(
    sys.argv[4]), float(sys.argv[5]), sys.argv[6]
conn = http.client.HTTPSConnection(host, port, context=ssl.create_default_context(cafile=cafile))
conn.connect()
size = None
rows = []
end = time.time() + duration
while time.time() < end:
    off = random.randrange(size // 8192) * 8192 if size else 0
    t0 = time.perf_counter()
    conn.request("GET", "/obj", headers={"Range": "bytes=%d-%d" % (off, off + 8191)})
    resp = conn.getresponse()
    body = resp.read()
    ms = (time.perf_counter() - t0) * 1000
    if resp.status != 206 or len(body) != 8192:
        sys.exit("unexpected answer %d with %d bytes" % (resp.status, len(body)))
    size = size or int(resp.getheader("Content-Range").split("/")[1])
    rows.append("%.6f %.3f\n" % (time.time(), ms))
    time.sleep(pause)
with open(out, "w") as f:
    f.writelines(rows)
