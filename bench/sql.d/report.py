#!/usr/bin/python3
"""bench/sql's table: per system the write gap over its kills, detection, lost acknowledged writes;
then the proxy's overhead. Usage: report.py OUT_DIR   (reads OUT_DIR/SYSTEM-N/summary.json,
OUT_DIR/overhead/*.txt and OUT_DIR/settings.json)."""
import glob
import json
import os
import re
import statistics
import sys

out = sys.argv[1]
settings = json.load(open(os.path.join(out, "settings.json")))
LABELS = {
    "rampart": "Rampart (%s)" % settings.get("rampart", ""),
    "mha": "MHA 0.58 (%s)" % settings.get("mha", ""),
    "galera": "Galera 4, 3 nodes (%s)" % settings.get("galera", ""),
}


def runs(system):
    files = glob.glob(os.path.join(out, system + "-*", "summary.json"))
    return [json.load(open(f)) for f in sorted(files, key=lambda f: int(f.split("-")[-1].split("/")[0]))]


def ms(v):
    return "n/a" if v is None else "%.0f" % v


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


print("bench/sql: " + settings.get("header", ""))
if any(runs(system) for system in settings["systems"]):
    print()
    print("kill -9 of the primary under a writer inserting every 10 ms (ms; medians over the kills)")
    print()
    print("| system | kills | write gap median | min | max | gap vs Rampart | detection median | "
      "recovered (system's view) median | lost acked writes (total) | writes never resumed | duplicates | split-brain | "
          "commit p50 before the kill | load at kill |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
base = med([r["gap_ms"] for r in runs("rampart")])
for system in settings["systems"]:
    rs = runs(system)
    if not rs:
        continue
    gaps = [r["gap_ms"] for r in rs]
    lost = [r["lost_acked"] for r in rs]
    lost_txt = str(sum(x for x in lost if x is not None))
    if None in lost:
        lost_txt += " (%d run(s) unverified: no survivor)" % lost.count(None)
    commit_p50 = med([r.get("prekill_commit_p50_ms") for r in rs])   # the machine's health before the fault
    ratio = "" if not base or system == "rampart" else "%.1fx" % (med(gaps) / base)
    print("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %d | %d | %s | %s | %s |" % (
        LABELS.get(system, system), len(rs), ms(med(gaps)), ms(min(gaps)), ms(max(gaps)), ratio,
        ms(med([r["detection_ms"] for r in rs])), ms(med([r["recovered_ms"] for r in rs])), lost_txt,
        sum(1 for r in rs if r.get("writes_resumed") is False), sum(r["duplicates"] for r in rs),
        "yes" if any(r["split_brain"] for r in rs) else "no",
        "n/a" if commit_p50 is None else "%.1f" % commit_p50,
        " ".join("%.0f" % r["load_1m_at_kill"] for r in rs if r.get("load_1m_at_kill") is not None)))


# Rampart's failover step by step: when each step started, ms after the kill (median over the kills)
steps = {}
for r in runs("rampart"):
    for name, at, _ in r.get("timeline") or []:
        steps.setdefault(re.sub(r" \S*n\d.*$", "", name), []).append(at)   # "Promote n2" -> "Promote"
if steps:
    print()
    print("Rampart's failover, ms after the kill (median): detected %s, then %s" % (
        ms(med([r["detection_ms"] for r in runs("rampart")])),
        ", ".join("%s %s" % (k, ms(med(v))) for k, v in steps.items())))


def sysbench(path):
    t = open(path).read()
    tps = re.search(r"transactions:\s+\d+\s+\(([\d.]+) per sec", t)
    p95 = re.search(r"95th percentile:\s+([\d.]+)", t)
    cpu = re.search(r"# cpu: (?:manager a|proxy manager) ([\d.]+)% of a core; machine busy ([\d.]+)%", t)
    return ((float(tps.group(1)) if tps else None), (float(p95.group(1)) if p95 else None),
            (float(cpu.group(1)) if cpu else None), (float(cpu.group(2)) if cpu else None))


ov = {"direct": [], "proxy": [], "relay": [], "socat": []}
for f in sorted(glob.glob(os.path.join(out, "overhead", "*-[0-9]*.txt"))):
    ov[os.path.basename(f).split("-")[0]].append(sysbench(f))
if ov["direct"] and ov["proxy"]:
    kinds = [k for k in ("direct", "proxy", "relay", "socat") if ov[k]]
    col = lambda kind, i: med([r[i] for r in ov[kind]])
    pct = lambda kind: "%.1f%%" % ((1 - col(kind, 0) / col("direct", 0)) * 100)
    print()
    print("sysbench oltp_write_only, %s threads, %s s, on the semi-sync primary (medians of %d runs each)"
          % (settings["threads"], settings["seconds"], len(ov["direct"])))
    print()
    names = {"direct": "direct", "proxy": "Rampart proxy, client on its host (redirected at connect)",
             "relay": "Rampart proxy, relayed (as for remote clients)", "socat": "through socat (reference: a plain C relay)"}
    print("| | " + " | ".join(names[k] for k in kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    print("| TPS | " + " | ".join("%.0f" % col(k, 0) for k in kinds) + " |")
    print("| TPS lost against direct | | " + " | ".join(pct(k) for k in kinds[1:]) + " |")
    print("| p95 latency ms | " + " | ".join("%.2f" % col(k, 1) for k in kinds) + " |")
    print("| CPU of the manager hosting the proxy, % of a core | " + " | ".join(ms(col(k, 2)) for k in kinds) + " |")
    print("| machine CPU busy % | " + " | ".join(ms(col(k, 3)) for k in kinds) + " |")
    print("| each run's TPS | " + " | ".join(" ".join("%.0f" % r[0] for r in ov[k]) for k in kinds) + " |")
