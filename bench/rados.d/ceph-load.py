#!/usr/bin/env python3
"""Ceph side of bench/rados: 16 write_full (or read) ops in flight through librados for SECONDS, timing every
op, so Ceph gets the same p50/p99 and longest-stall figures that `rampart rados bench --json` prints.
Usage: ceph-load.py CONF POOL SECONDS write|read SIZE CONCURRENCY [PREFIX [N]]   -> one JSON line.
N: read picks among objects 0..N-1; write cycles over N objects (overwrites) when N > 0."""
import json, random, sys, threading, time
import rados

conf, pool, seconds, mode, size, conc = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
prefix = sys.argv[7] if len(sys.argv) > 7 else "load_object"
cluster = rados.Rados(conffile=conf)
cluster.connect()
io = cluster.open_ioctx(pool)
data = bytes(range(256)) * (size // 256) + bytes(size % 256)
lock = threading.Condition()
lat, errors, inflight = [], [0], [0]
state = {"next": 0, "last": time.monotonic(), "gap": 0.0}
stalls = []  # gaps between completions of at least 100 ms: [when it ended (s into the run), ms], as rampart rados bench --json
objects = int(sys.argv[8]) if len(sys.argv) > 8 else 0
start, started_unix_ms = time.monotonic(), int(time.time() * 1000)
deadline = start + seconds

def issue():
    n = state["next"]; state["next"] += 1
    name = f"{prefix}{random.randrange(objects) if mode == 'read' else n % objects if objects > 0 else n}"
    t0 = time.monotonic()
    def done(completion, *rest):
        now = time.monotonic()
        with lock:
            if completion.get_return_value() < 0:
                errors[0] += 1
            else:
                lat.append(now - t0)
                state["gap"] = max(state["gap"], now - state["last"])
                if now - state["last"] >= 0.1:
                    stalls.append([round(now - start, 3), round((now - state["last"]) * 1000, 1)])
                state["last"] = max(state["last"], now)
            inflight[0] -= 1
            lock.notify()
    inflight[0] += 1
    if mode == "write":
        io.aio_write_full(name, data, oncomplete=done)
    else:
        io.aio_read(name, size, 0, oncomplete=done)

with lock:
    while time.monotonic() < deadline:
        while inflight[0] < conc and time.monotonic() < deadline:
            issue()
        lock.wait(0.05)
    while inflight[0] > 0:
        lock.wait(0.05)
elapsed = time.monotonic() - start
lat.sort()
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0
print(json.dumps({"ops": len(lat), "seconds": round(elapsed, 3), "ops_per_sec": round(len(lat) / elapsed, 2),
                  "mb_per_sec": round(len(lat) * size / elapsed / 1e6, 3), "p50_ms": round(pct(0.5), 3), "p99_ms": round(pct(0.99), 3),
                  "max_ms": round(lat[-1] * 1000, 3) if lat else 0, "errors": errors[0], "max_gap_ms": round(state["gap"] * 1000, 1), "started_unix_ms": started_unix_ms, "stalls": stalls,
                  "written": min(state["next"], objects) if objects > 0 else state["next"]}))
io.close()
cluster.shutdown()
