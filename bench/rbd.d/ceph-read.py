#!/usr/bin/python3
"""Ceph side of bench/rbd's clone read: 4 KiB reads of IMAGE at the given offsets through librbd (python3-rbd),
each timed on its own, with the cache off like qemu-io -t none on the Rampart side.
Usage: ceph-read.py CONF POOL IMAGE OFFSET...   -> "first_ms p50_ms n connect_ms open_ms"
"""
import statistics
import sys
import time

import rados
import rbd

conf, pool, image, offsets = sys.argv[1], sys.argv[2], sys.argv[3], [int(x) for x in sys.argv[4:]]
t = time.perf_counter
t0 = t()
cluster = rados.Rados(conffile=conf, rados_id='admin', conf={'rbd_cache': 'false'})
cluster.connect()
io = cluster.open_ioctx(pool)
t1 = t()
img = rbd.Image(io, image, read_only=True)
t2 = t()
lat = []
for off in offsets:
    s = t()
    assert len(img.read(off, 4096)) == 4096
    lat.append((t() - s) * 1000)
img.close()
io.close()
cluster.shutdown()
print('%.3f %.3f %d %.1f %.1f' % (lat[0], statistics.median(lat), len(lat), (t1 - t0) * 1000, (t2 - t1) * 1000))
