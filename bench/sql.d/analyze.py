#!/usr/bin/python3
"""One kill of bench/sql -> RUN_DIR/summary.json and a one-line summary on stdout.

Usage: analyze.py KIND RUN_DIR        KIND: rampart | mha | galera

Inputs in RUN_DIR (times are epoch ms unless said otherwise):
  kill_ts_ms         just before the kill -9 of the primary (Galera: of the writer's node)
  writer.json        writer.py's verdict: longest gap between acknowledged writes, lost acknowledged ids, ...
  status.json        (rampart) `rampart sql status --json` after the run: the failover's timeline
  mha_manager.log    (mha) masterha_manager output, each line prefixed by tsfilter.py's epoch ms
  g2-error.ts.log    (galera) a survivor's error log, prefixed the same way

detection_ms: kill -> the system declares the primary dead (Rampart: DetectedAt of the failover;
MHA: "Master ... is down!"; Galera: a survivor suspects / declares the node inactive).
recovered_ms: kill -> the system itself says writes can go on (Rampart: WritesOpenAt; MHA: "Master
failover ... completed successfully"; Galera: the survivors' new primary view).
"""
import json
import os
import re
import sys
from datetime import datetime

kind, d = sys.argv[1], sys.argv[2]
kill_ms = int(open(os.path.join(d, "kill_ts_ms")).read().strip())
w = json.load(open(os.path.join(d, "writer.json")))
s = {"kind": kind, "run": os.path.basename(d), "kill_ts_ms": kill_ms,
     "detection_ms": None, "recovered_ms": None}
try:
    s["load_1m_at_kill"] = float(open(os.path.join(d, "loadavg_at_kill")).read().split()[0])
except (OSError, ValueError):
    s["load_1m_at_kill"] = None


def since_kill(iso):
    """ms from the kill to an ISO 8601 timestamp of `rampart sql status --json`."""
    if iso is None:
        return None
    iso = re.sub(r"(\.\d{6})\d*", r"\1", iso)  # .NET writes 7 fractional digits; Python takes 6
    return round(datetime.fromisoformat(iso).timestamp() * 1000 - kill_ms, 1)


def ts_lines(name):
    """(ms since the kill, text) of a tsfilter.py log, lines from the kill on."""
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return
    for line in open(p, errors="replace"):
        m = re.match(r"(\d+) (.*)", line)
        if m and int(m.group(1)) >= kill_ms:
            yield int(m.group(1)) - kill_ms, m.group(2)


if kind == "rampart":
    p = os.path.join(d, "status.json")
    st = json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else {}
    op = st.get("lastOperation") or {}
    s["detection_ms"] = since_kill(op.get("detectedAt"))
    s["recovered_ms"] = since_kill(op.get("writesOpenAt"))
    s["first_failed_check_ms"] = since_kill(op.get("firstFailureAt"))
    s["failover_ok"] = op.get("succeeded")
    s["new_primary"] = op.get("newPrimary")
    s["failover_error"] = op.get("error")
    s["leader"] = st.get("leader")
    # where the time goes: each step of the failover, ms since the kill and its own duration
    s["timeline"] = [(t["step"], since_kill(t["at"]), round(t["ms"], 1)) for t in op.get("timeline", [])]
elif kind == "mha":
    for ms, txt in ts_lines("mha_manager.log"):
        if s["detection_ms"] is None and re.search(r"Master .*is down!", txt):
            s["detection_ms"] = ms
        m = re.search(r"Master failover to (\S+) completed successfully", txt)
        if m and s["recovered_ms"] is None:
            s["recovered_ms"], s["new_primary"] = ms, m.group(1)
    s["failover_ok"] = s["recovered_ms"] is not None
elif kind == "galera":
    for ms, txt in ts_lines("g2-error.ts.log"):
        if s["detection_ms"] is None and ("suspecting node" in txt or "declaring inactive" in txt):
            s["detection_ms"] = ms
        if s["recovered_ms"] is None and "New COMPONENT: primary = yes" in txt:
            s["recovered_ms"] = ms
    s["failover_ok"] = s["recovered_ms"] is not None

s.update({
    "gap_ms": w["max_gap_ms"],
    "writes_resumed": w.get("writes_resumed"),
    "gap_from_ms": None if not w.get("gap_last_ack_before") else round(w["gap_last_ack_before"][1] * 1000 - kill_ms, 1),
    "gap_to_ms": None if not w.get("gap_first_ack_after") else round(w["gap_first_ack_after"][1] * 1000 - kill_ms, 1),
    "acked": w["acked"], "attempts": w["attempts"],
    "lost_acked": w.get("lost_acked_count"),   # None: no survivor to verify against
    "lost_acked_ids": w.get("lost_acked", [])[:50],
    "duplicates": len(w.get("duplicates", [])),
    "unacked_but_committed": len(w.get("phantom_unacked_committed", [])),
    "split_brain": bool(w.get("split_brain_observed")),
    "survivor": w.get("survivor"),
    "verify_error": w.get("verify_error"),
    "other_nodes": w.get("other_nodes"),
})
# the machine's state before the fault: commit latency of the writer's acknowledged writes (fsync-bound)
ev = os.path.join(d, "events.csv")
if os.path.exists(ev):
    import csv
    lat = sorted((float(r["t1"]) - float(r["t0"])) * 1000 for r in csv.DictReader(open(ev))
                 if r["ok"] == "1" and float(r["t1"]) * 1000 < kill_ms)
    if lat:
        s["prekill_commit_p50_ms"] = round(lat[len(lat) // 2], 1)
        s["prekill_commit_p99_ms"] = round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1)
json.dump(s, open(os.path.join(d, "summary.json"), "w"), indent=1)
brief = {k: s.get(k) for k in ("run", "gap_ms", "detection_ms", "recovered_ms", "lost_acked", "duplicates",
                               "split_brain", "writes_resumed", "survivor", "load_1m_at_kill",
                               "prekill_commit_p50_ms")}
print(json.dumps(brief))
if s.get("timeline"):
    print("  rampart timeline (step, ms after kill, ms):", json.dumps(s["timeline"]))
