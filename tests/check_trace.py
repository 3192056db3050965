#!/usr/bin/env python3
"""Checks a tapegrad Chrome trace against the Trace Event Format (the JSON Object Format with
complete "X" events, as Perfetto and chrome://tracing read it) and that spans nest: every op
span lies inside its module's span on the same track, backward spans inside the "backward"
range. Usage: check_trace.py TRACE.json; prints a summary, exits 1 on the first problem."""
import json
import sys


def fail(msg):
    print(f"check_trace: {msg}")
    sys.exit(1)


doc = json.load(open(sys.argv[1]))
if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
    fail("the top level must be an object with a traceEvents array")
spans, meta = [], 0
for e in doc["traceEvents"]:
    for key in ("name", "ph", "pid", "tid"):
        if key not in e:
            fail(f"an event lacks '{key}': {e}")
    if e["ph"] == "M":
        meta += 1
        continue
    if e["ph"] != "X":
        fail(f"unexpected phase {e['ph']}")
    if not (isinstance(e["ts"], (int, float)) and isinstance(e["dur"], (int, float)) and e["dur"] >= 0):
        fail(f"bad ts/dur: {e}")
    spans.append(e)
if meta < 2:
    fail("expected process_name and thread_name metadata")
modules = [s for s in spans if s["cat"] == "module"]
ops = [s for s in spans if s["cat"] == "op"]
backs = [s for s in spans if s["cat"] == "backward"]
walk = [s for s in spans if s["cat"] == "range" and s["name"] == "backward"]
if not (modules and ops and backs and walk):
    fail(f"expected module, op and backward spans and a backward range: {len(modules)} {len(ops)} {len(backs)} {len(walk)}")
eps = 0.002  # the microsecond timestamps are printed to three decimals


def inside(a, b):
    return b["ts"] - eps <= a["ts"] and a["ts"] + a["dur"] <= b["ts"] + b["dur"] + eps and a["tid"] == b["tid"]


by_path = {}
for m in modules:
    by_path.setdefault(m["args"].get("module", ""), []).append(m)
nested = 0
for o in ops:
    path = o["args"].get("module")
    if path is None:
        continue
    if not any(inside(o, m) for m in by_path.get(path, [])):
        fail(f"op {o['name']} at {o['ts']} lies outside every span of its module {path}")
    nested += 1
for b in backs:
    if not any(inside(b, w) for w in walk):
        fail(f"backward span {b['name']} lies outside the backward range")
print(f"check_trace: {len(spans)} spans ({len(modules)} module, {len(ops)} op, {len(backs)} backward), "
      f"{nested} ops inside their module's span: valid")
