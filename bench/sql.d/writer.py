#!/usr/bin/python3
"""Paced writer for HA failover experiments.

Inserts one row per tick (default every 10 ms, autocommit) with a strictly increasing
integer id (wid) into dbha.writes on "the current primary", records for every id whether
the commit was acknowledged (and when), reconnects on any error and keeps going.

Primary discovery (--mode):
  fixed     always the first --nodes entry (a VIP / proxy address)
  probe-rw  probe all --nodes, use the first with @@read_only=0  (replication sets)
  any       probe all --nodes, use the first that answers (and, if it is a Galera node,
            has wsrep_ready=ON)  (Galera: every node is writable)

A monitor thread polls every node every --monitor-ms and records how many nodes are
writable at the same time (split-brain indicator for replication sets).

--check-nodes (with --mode fixed, e.g. behind a proxy): the servers behind the fixed address;
the monitor watches them with the probe-rw rule, and verification reads the writable one.
--kill-file / --resume-secs: stop early, --resume-secs after the first write that started
after the fault (epoch ms in --kill-file, written by the harness) was acknowledged.

(bench/sql's copy of shared/reference/mariadb/writer.py; the options above are its additions.)

At the end it verifies against the surviving primary (found with the same discovery rule)
and prints / writes JSON: acknowledged ids, longest write-unavailability gap, acknowledged
ids missing on the survivor (lost acknowledged writes), duplicate ids, and phantom rows
(rows whose insert was never acknowledged: either ambiguous commits or never-attempted ids).
"""
import argparse
import json
import os
import signal
import sys
import threading
import time

import pymysql

p = argparse.ArgumentParser()
p.add_argument("--nodes", required=True, help="host:port,host:port,...")
p.add_argument("--mode", choices=["fixed", "probe-rw", "any"], default="probe-rw")
p.add_argument("--interval-ms", type=float, default=10.0)
p.add_argument("--duration", type=float, default=40.0, help="seconds of writing")
p.add_argument("--stop-file", default=None, help="stop writing early when this file exists")
p.add_argument("--user", default="app")
p.add_argument("--password", default="apppass")
p.add_argument("--db", default="dbha")
p.add_argument("--run", default=None, help="run label stored in every row")
p.add_argument("--connect-timeout", type=float, default=1.0)
p.add_argument("--read-timeout", type=float, default=20.0,
               help="must exceed rpl_semi_sync_master_timeout (10 s)")
p.add_argument("--monitor-ms", type=float, default=100.0, help="0 disables the monitor thread")
p.add_argument("--settle", type=float, default=15.0,
               help="max seconds to wait for surviving nodes to converge before verifying")
p.add_argument("--out", default=None, help="JSON summary path")
p.add_argument("--events", default=None, help="per-attempt CSV path")
p.add_argument("--check-nodes", default=None,
               help="host:port,... behind a --mode fixed address: monitored and verified with probe-rw")
p.add_argument("--kill-file", default=None, help="file holding the epoch ms of the fault, once there is one")
p.add_argument("--resume-secs", type=float, default=None,
               help="stop this long after the first acknowledged write started after the fault")
a = p.parse_args()

def parse_nodes(spec):
    return [(hp.rsplit(":", 1)[0], int(hp.rsplit(":", 1)[1])) for hp in spec.split(",")]


NODES = parse_nodes(a.nodes)
# the nodes the monitor and the verification look at, and whether "writable" means read_only=0
CHECK_NODES = parse_nodes(a.check_nodes) if a.check_nodes else NODES
CHECK_RW = a.mode == "probe-rw" or bool(a.check_nodes)
RUN = a.run or "run-%d" % int(time.time())
stop = False


def _sig(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, _sig)
signal.signal(signal.SIGINT, _sig)


def connect(node, read_timeout=None):
    return pymysql.connect(host=node[0], port=node[1], user=a.user, password=a.password,
                           database=a.db, autocommit=True,
                           connect_timeout=a.connect_timeout,
                           read_timeout=read_timeout or a.read_timeout,
                           write_timeout=read_timeout or a.read_timeout)


def node_state(conn):
    """returns (read_only:int, wsrep_ready:str|None)"""
    with conn.cursor() as c:
        c.execute("SELECT @@read_only, @@wsrep_on")
        ro, won = c.fetchone()
        r = None
        if int(won):
            c.execute("SHOW GLOBAL STATUS LIKE 'wsrep_ready'")
            r = c.fetchone()
    return int(ro), (r[1] if r else None)


def discover(record=True, nodes=None, mode=None):
    """Return (conn, node) of the current primary according to --mode, or (None, None)."""
    nodes, mode = nodes or NODES, mode or a.mode
    if mode == "fixed":
        try:
            return connect(NODES[0]), NODES[0]
        except Exception:
            return None, None
    writable = []
    chosen = None
    for n in nodes:
        try:
            c = connect(n, read_timeout=2.0)
        except Exception:
            continue
        try:
            ro, wready = node_state(c)
        except Exception:
            c.close()
            continue
        ok = (ro == 0) if mode == "probe-rw" else (wready in (None, "ON"))
        if ok:
            writable.append(n)
            if chosen is None:
                chosen = (c, n)
                # re-arm the long read timeout for commits
                c._read_timeout = a.read_timeout
                c._write_timeout = a.read_timeout
                if mode == "any":
                    break
                continue
        c.close()
    if record and mode == "probe-rw" and len(writable) > 1:
        split_events.append({"t": time.time(), "writable": ["%s:%d" % n for n in writable],
                             "source": "discover"})
    return chosen if chosen else (None, None)


# ------------------------------------------------------------------ monitor thread
split_events = []
monitor_samples = []  # (t, [writable node ports]) recorded only on change
mon_stop = threading.Event()


def monitor():
    conns = {}
    last = None
    while not mon_stop.is_set():
        t = time.time()
        writable = []
        for n in CHECK_NODES:
            c = conns.get(n)
            try:
                if c is None:
                    c = connect(n, read_timeout=1.0)
                    conns[n] = c
                ro, wready = node_state(c)
                if (CHECK_RW and ro == 0) or (not CHECK_RW and wready in (None, "ON")):
                    writable.append(n[1])
            except Exception:
                try:
                    if c is not None:
                        c.close()
                except Exception:
                    pass
                conns[n] = None
        if writable != last:
            monitor_samples.append((t, writable))
            last = writable
        if CHECK_RW and len(writable) > 1:
            split_events.append({"t": t, "writable": writable, "source": "monitor"})
        mon_stop.wait(a.monitor_ms / 1000.0)
    for c in conns.values():
        try:
            c and c.close()
        except Exception:
            pass


if a.monitor_ms > 0:
    mt = threading.Thread(target=monitor, daemon=True)
    mt.start()

# ------------------------------------------------------------------ write loop
attempts = {}  # wid -> dict(t_start, t_end, ok, node, err)
acked = []     # (wid, t_ack)
conn, node = None, None
wid = 0
t_begin = time.time()
next_t = time.monotonic()
interval = a.interval_ms / 1000.0
deadline = time.monotonic() + a.duration
reconnects = 0
kill_t = None      # the fault, once the harness has written it
resumed_t = None   # first acknowledgement of a write started after the fault
while not stop and time.monotonic() < deadline:
    if a.stop_file and os.path.exists(a.stop_file):
        break
    if a.kill_file and kill_t is None and wid % 10 == 0 and os.path.exists(a.kill_file):
        try:
            kill_t = int(open(a.kill_file).read().strip()) / 1000.0
        except ValueError:
            pass  # being written
    if resumed_t is not None and time.time() - resumed_t > a.resume_secs:
        break
    now = time.monotonic()
    if now < next_t:
        time.sleep(next_t - now)
    # fixed pace, no catch-up bursts after a stall
    next_t = max(next_t + interval, time.monotonic())
    wid += 1
    rec = {"t0": time.time()}
    attempts[wid] = rec
    if conn is None:
        conn, node = discover()
        if conn is None:
            rec.update(ok=False, err="no primary found", t1=time.time(), node=None)
            continue
        reconnects += 1
    rec["node"] = node[1]
    try:
        with conn.cursor() as c:
            c.execute("INSERT INTO writes (wid, run, ts, node_port) VALUES (%s, %s, %s, @@port)",
                      (wid, RUN, rec["t0"]))
        rec["t1"] = time.time()
        rec["ok"] = True
        acked.append((wid, rec["t1"]))
        if a.resume_secs is not None and kill_t is not None and resumed_t is None and rec["t0"] > kill_t:
            resumed_t = rec["t1"]
    except Exception as e:  # ambiguous outcome: may or may not have committed
        rec.update(ok=False, err="%s" % (e,), t1=time.time())
        try:
            conn.close()
        except Exception:
            pass
        conn, node = None, None
t_end = time.time()
try:
    conn and conn.close()
except Exception:
    pass

# ------------------------------------------------------------------ verification
verify_started = time.time()
final_conn, final_node = None, None
for _ in range(int(a.settle * 10) + 1):
    if a.check_nodes:
        final_conn, final_node = discover(record=False, nodes=CHECK_NODES, mode="probe-rw")
    else:
        final_conn, final_node = discover(record=False)
    if final_conn:
        break
    time.sleep(0.1)


def ids_on(conn):
    with conn.cursor() as c:
        c.execute("SELECT wid, COUNT(*), MIN(node_port), MAX(node_port) FROM writes WHERE run=%s GROUP BY wid", (RUN,))
        return {int(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in c.fetchall()}


result = {"run": RUN, "mode": a.mode, "nodes": a.nodes, "interval_ms": a.interval_ms,
          "t_begin": t_begin, "t_end": t_end, "attempts": wid, "acked": len(acked),
          "failed_attempts": sum(1 for r in attempts.values() if not r.get("ok")),
          "reconnects": reconnects}

# longest write-unavailability gap: largest interval between consecutive acknowledgements,
# including the tail (last ack -> end of writing) so that writes that never resume count too
gap, gap_from, gap_to = 0.0, None, None
for (w0, t0), (w1, t1) in zip(acked, acked[1:]):
    if t1 - t0 > gap:
        gap, gap_from, gap_to = t1 - t0, (w0, t0), (w1, t1)
tail = (t_end - acked[-1][1]) if acked else (t_end - t_begin)
result["writes_resumed"] = tail <= gap or tail < 1.0
if tail > gap:
    gap, gap_from, gap_to = tail, (acked[-1] if acked else (0, t_begin)), None
result["max_gap_ms"] = round(gap * 1000, 1)
result["gap_last_ack_before"] = gap_from
result["gap_first_ack_after"] = gap_to
errs = [r for r in attempts.values() if not r.get("ok")]
result["first_error_t"] = min((r["t0"] for r in errs), default=None)
result["nodes_written"] = sorted({r["node"] for r in attempts.values() if r.get("ok")})

if final_conn is None and a.mode == "any":
    # e.g. Galera survivors without quorum: verify anyway with dirty reads on the first reachable node
    for n in NODES:
        try:
            c = connect(n, read_timeout=5.0)
            with c.cursor() as cur:
                cur.execute("SET SESSION wsrep_dirty_reads=ON")
            final_conn, final_node = c, n
            result["verified_with_dirty_reads"] = True
            break
        except Exception:
            continue
if final_conn is None:
    result["verify_error"] = "no surviving primary found"
else:
    result["survivor"] = "%s:%d" % final_node
    have = ids_on(final_conn)
    acked_ids = {w for w, _ in acked}
    lost = sorted(acked_ids - set(have))
    dup = sorted(w for w, v in have.items() if v[0] > 1)
    phantom = sorted(w for w in have if w not in acked_ids)
    result["rows_on_survivor"] = sum(v[0] for v in have.values())
    result["lost_acked"] = lost
    result["lost_acked_count"] = len(lost)
    result["duplicates"] = dup
    result["phantom_unacked_committed"] = [w for w in phantom if w in attempts]
    result["phantom_never_attempted"] = [w for w in phantom if w not in attempts]
    # convergence of the other live nodes with the survivor (same run rows)
    others = {}
    for n in CHECK_NODES:
        if n == final_node:
            continue
        try:
            c = connect(n, read_timeout=5.0)
        except Exception:
            others["%s:%d" % n] = "down"
            continue
        if result.get("verified_with_dirty_reads"):
            with c.cursor() as cur:
                cur.execute("SET SESSION wsrep_dirty_reads=ON")
        t_lim = time.time() + a.settle
        while True:
            o = ids_on(c)
            if set(o) == set(have) or time.time() > t_lim:
                break
            time.sleep(0.2)
        ro, wr = node_state(c)
        others["%s:%d" % n] = {"read_only": ro, "wsrep_ready": wr,
                               "missing_vs_survivor": len(set(have) - set(o)),
                               "extra_vs_survivor": sorted(set(o) - set(have))[:50]}
        c.close()
    result["other_nodes"] = others
    final_conn.close()

mon_stop.set()
result["split_brain_samples"] = len(split_events)
result["split_brain_observed"] = bool(split_events) or any(
    isinstance(v, dict) and v["extra_vs_survivor"] for v in result.get("other_nodes", {}).values())
result["split_brain_first"] = split_events[:5]
result["writable_timeline"] = [(round(t, 3), w) for t, w in monitor_samples]
result["errors_sample"] = sorted({r.get("err", "")[:120] for r in errs})[:10]

if a.events:
    with open(a.events, "w") as f:
        f.write("wid,t0,t1,ok,node,err\n")
        for w, r in attempts.items():
            f.write("%d,%.6f,%.6f,%d,%s,%s\n" % (w, r["t0"], r.get("t1", 0), 1 if r.get("ok") else 0,
                                                r.get("node"), (r.get("err") or "").replace(",", ";").replace("\n", " ")[:100]))
if a.out:
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)

print("run=%s attempts=%d acked=%d failed=%d max_gap_ms=%.1f lost_acked=%s dups=%d phantom_unacked=%d split_brain=%s survivor=%s"
      % (RUN, wid, len(acked), result["failed_attempts"], result["max_gap_ms"],
         result.get("lost_acked_count"), len(result.get("duplicates", [])),
         len(result.get("phantom_unacked_committed", [])), result["split_brain_observed"],
         result.get("survivor")))
if result.get("lost_acked"):
    print("LOST ACKED IDS:", result["lost_acked"][:200])
sys.exit(0)
