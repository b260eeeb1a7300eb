#!/usr/bin/env python3
"""Maps a remote object and reads it as a numpy array without copying it: only the pages the
program touches (and what the engine predicts it will touch next) cross the network.

usage: read_numpy.py URL [DTYPE]      (DTYPE defaults to "<f4", little-endian float32)
e.g.   read_numpy.py s3://bucket/weights.f32
"""
import sys

import numpy as np

import mmapurl


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    url = sys.argv[1]
    dtype = np.dtype(sys.argv[2] if len(sys.argv) > 2 else "<f4")
    with mmapurl.open(url) as m:
        a = np.frombuffer(m, dtype=dtype, count=len(m) // dtype.itemsize)  # zero-copy
        print(f"{len(m)} bytes: {a.size} x {a.dtype}")
        print(f"first: {a[:4]}")
        print(f"last: {a[-4:]}")
        s = m.stats()
        print(f"fetched {s['bytes_fetched']} bytes in {s['requests']} requests, "
              f"{s['faults']} faults, fault latency p50 {s['fault_latency_p50_us']:.0f} us")
        del a  # release the buffer: the mapping refuses to close while it is exported
    return 0


if __name__ == "__main__":
    sys.exit(main())
