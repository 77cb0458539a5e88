#!/usr/bin/python3
"""Helpers for bench/rbd (standard library only).

  rbdbench.py fio FIO_JSON                  -> "iops MB/s p50_ms p99_ms" of the job's read or write side
  rbdbench.py cpusnap OUT PID...            -> save /proc/stat and the CPU ticks of PIDs to OUT (JSON)
  rbdbench.py cpu BEFORE AFTER FIO_CPU_S    -> "stack% busy%": our daemons + fio, % of one core; whole machine, % of all cores
  rbdbench.py qemuio OUTPUT                 -> "first_ms p50_ms n": per-read latencies printed by qemu-io
  rbdbench.py table RESULTS_TSV META...     -> the markdown table (RESULTS_TSV rows: system, key, value)

MB/s is 10^6 bytes/s. Latency is fio's total latency (submission to completion, lat_ns).
"""
import json
import os
import re
import statistics
import sys


def fio(path):
    text = open(path).read()
    d = json.loads(text[text.index('{'):])  # engines may print warnings before the JSON
    job = d['jobs'][0]
    side = job['write'] if job['write']['io_bytes'] > 0 else job['read']
    pct = side['lat_ns'].get('percentile') or side['clat_ns'].get('percentile') or {}
    print('%.1f %.2f %.3f %.3f' % (side['iops'], side['bw_bytes'] / 1e6,
                                   pct.get('50.000000', 0) / 1e6, pct.get('99.000000', 0) / 1e6))


def cpusnap(out, *pids):
    stat = [int(x) for x in open('/proc/stat').readline().split()[1:8]]
    ticks = {}
    for pid in pids:
        try:
            s = open('/proc/%s/stat' % pid).read()
            f = s[s.rindex(')') + 2:].split()  # the name may hold spaces; fields resume after ')'
            ticks[pid] = int(f[11]) + int(f[12])  # utime + stime
        except (OSError, ValueError):
            pass
    json.dump({'stat': stat, 'ticks': ticks}, open(out, 'w'))


def cpu(before, after, fio_cpu_s):
    a, b = json.load(open(before)), json.load(open(after))
    total = sum(b['stat']) - sum(a['stat'])
    idle = (b['stat'][3] + b['stat'][4]) - (a['stat'][3] + a['stat'][4])
    hz = os.sysconf('SC_CLK_TCK')
    wall = total / os.cpu_count() / hz  # seconds
    daemons = sum(v - a['ticks'][p] for p, v in b['ticks'].items() if p in a['ticks']) / hz
    print('%.0f %.0f' % (100 * (daemons + float(fio_cpu_s)) / wall if wall else 0,
                         100 * (total - idle) / total if total else 0))


def qemuio(path):
    # "4 KiB, 1 ops; 00.00 sec (4.082 MiB/sec and 1045.0566 ops/sec)": one line per read command
    lat = [1000 / float(m.group(1)) for m in re.finditer(r'and ([0-9.]+) ops/sec', open(path).read())]
    if not lat:
        sys.exit('no qemu-io timings in %s' % path)
    print('%.3f %.3f %d' % (lat[0], statistics.median(lat), len(lat)))


# The table: (key, label, format, better: 'high'|'low'|None, goal from the issue or None).
# A goal is (text, test(ratio, rampart_values)).
def _over_cli(key):
    return lambda r, v: v[key] - v.get('cli_noop', 0) <= 50


ROWS = [
    ('randwrite4k.iops', '4 KiB random write, qd 32: IOPS', '%.0f', 'high', ('>= 4x', lambda r, v: r >= 4)),
    ('randwrite4k.mbs', '4 KiB random write: MB/s', '%.1f', 'high', None),
    ('randwrite4k.p99', '4 KiB random write: p99 ms', '%.2f', 'low', ('<= 0.25x', lambda r, v: r <= 0.25)),
    ('randwrite4k.cpu', '4 KiB random write: CPU stack / machine', None, None, None),
    ('randread4k.iops', '4 KiB random read, qd 32: IOPS', '%.0f', 'high', ('>= 3x', lambda r, v: r >= 3)),
    ('randread4k.mbs', '4 KiB random read: MB/s', '%.1f', 'high', None),
    ('randread4k.p99', '4 KiB random read: p99 ms', '%.2f', 'low', None),
    ('randread4k.cpu', '4 KiB random read: CPU stack / machine', None, None, None),
    ('seqwrite4m.mbs', '4 MiB sequential write, qd 4: MB/s', '%.1f', 'high', ('>= 2x', lambda r, v: r >= 2)),
    ('seqwrite4m.iops', '4 MiB sequential write: IOPS', '%.1f', 'high', None),
    ('seqwrite4m.p99', '4 MiB sequential write: p99 ms', '%.1f', 'low', None),
    ('seqwrite4m.cpu', '4 MiB sequential write: CPU stack / machine', None, None, None),
    ('seqread4m.mbs', '4 MiB sequential read, qd 4: MB/s', '%.1f', 'high', ('>= 1x', lambda r, v: r >= 1)),
    ('seqread4m.iops', '4 MiB sequential read: IOPS', '%.1f', 'high', None),
    ('seqread4m.p99', '4 MiB sequential read: p99 ms', '%.1f', 'low', None),
    ('seqread4m.cpu', '4 MiB sequential read: CPU stack / machine', None, None, None),
    ('prefill.mbs', 'fill of the fio image (4 MiB writes, qd 8, once): MB/s', '%.1f', 'high', None),
    ('cli_noop', 'CLI no-op `rbd info` (start-up + connect + header read), median of 3: ms', '%.0f', 'low', None),
    ('fill.mbs', 'fill of the flatten parent (4 MiB writes, qd 8): MB/s', '%.1f', 'high', None),
    ('snap_create', 'snapshot create (fully written parent), median of 3: ms', '%.0f', 'low', ('<= 50 ms + CLI', _over_cli('snap_create'))),
    ('snap_protect', 'snapshot protect, median of 3: ms', '%.0f', 'low', None),
    ('clone', 'clone of the protected snapshot, median of 3: ms', '%.0f', 'low', ('<= 50 ms + CLI', _over_cli('clone'))),
    ('clone_read_first', 'clone 4 KiB read served by the parent, first: ms', '%.2f', 'low', None),
    ('clone_read_p50', 'clone 4 KiB read served by the parent, p50 of N: ms', '%.2f', 'low', None),
    ('clone_read_proc', 'the reading process for those N (start-up, connect, open): ms', '%.0f', 'low', None),
    ('flatten', 'flatten of the clone: s', '%.1f', 'low', ('<= 0.25x', lambda r, v: r <= 0.25)),
    ('export_diff', 'export-diff of 64 MiB of changes (to a file): ms', '%.0f', 'low', None),
    ('diff_mib', 'size of that diff: MiB', '%.1f', None, None),
    ('import_diff', 'import-diff of those changes: ms', '%.0f', 'low', None),
]

SCALE = {'flatten': 1e-3}  # recorded in ms, shown in s


def table(tsv, *meta):
    vals = {}
    for line in open(tsv):
        if line.strip() and not line.startswith('#'):
            sys_, key, value = line.rstrip('\n').split('\t', 2)
            vals.setdefault(sys_, {}).setdefault(key, []).append(value)
    # A step timed several times shows its median; one that failed any time shows the failure.
    for by_key in vals.values():
        for key, values in by_key.items():
            bad = [v for v in values if not re.fullmatch(r'-?[0-9.]+(e-?[0-9]+)?', v)]
            by_key[key] = bad[0] if bad else str(statistics.median(float(v) for v in values))
    def num(s, k):  # the value, or None when missing or not a number (a step that failed)
        try:
            return float(vals[s][k]) * SCALE.get(k, 1)
        except (KeyError, ValueError):
            return None
    rampart = {k: float(v) for k, v in vals.get('rampart', {}).items() if re.fullmatch(r'[-0-9.e]+', v)}
    print('\n'.join(meta) + '\n' if meta else '', end='')
    print('| metric | Ceph | Rampart | disk | Rampart/Ceph | goal |')
    print('|---|---:|---:|---:|---|---|')
    for key, label, fmt, better, goal in ROWS:
        if not any(key in vals.get(s, {}) for s in ('ceph', 'rampart', 'disk')):
            continue
        if fmt is None:  # a text cell, e.g. CPU "stack / machine"
            cells = [vals.get(s, {}).get(key, '') for s in ('ceph', 'rampart', 'disk')]
            print('| %s | %s | %s | %s |  |  |' % (label, *cells))
            continue
        c, r, d = num('ceph', key), num('rampart', key), num('disk', key)
        cell = lambda x, s: vals.get(s, {}).get(key, '') if x is None else fmt % x
        ratio = goal_cell = ''
        if c and r is not None:
            q = r / c
            mark = '' if better is None else ('same' if abs(q - 1) < 0.03 else
                                             'better' if (q > 1) == (better == 'high') else 'worse')
            ratio = '%.2fx %s' % (q, mark)
            if goal:
                goal_cell = '%s: %s' % (goal[0], 'met' if goal[1](q, rampart) else 'missed')
        elif goal:
            goal_cell = goal[0]
        print('| %s | %s | %s | %s | %s | %s |' % (label, cell(c, 'ceph'), cell(r, 'rampart'), cell(d, 'disk'), ratio.strip(), goal_cell))


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    {'fio': fio, 'cpusnap': cpusnap, 'cpu': cpu, 'qemuio': qemuio, 'table': table}[cmd](*args)
