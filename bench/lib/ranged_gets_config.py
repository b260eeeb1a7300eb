#!/usr/bin/env python3
"""A curl config (curl -K) of COUNT keep-alive 4 KiB ranged GETs at random 4 KiB-aligned offsets
of an object of SIZE_MB, as uffd-bench's random reads: the same range every time would be served
from one hot page while the mapping's reads walk the whole file. One curl, one connection
(segments joined by "next" reuse it); each GET writes its time_total on a line.
  ranged_gets_config.py URL COUNT SIZE_MB CACERT > ranged.cfg"""
import random
import sys

url, count, size_mb, cacert = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(7)
segments = []
for _ in range(count):
    o = rng.randrange(0, (size_mb << 20) // 4096) * 4096
    segments.append(f'url = "{url}"\nrange = "{o}-{o + 4095}"\noutput = "/dev/null"\n'
                    f'cacert = "{cacert}"\nsilent\nwrite-out = "%{{time_total}}\\n"\n')
print("next\n".join(segments))
