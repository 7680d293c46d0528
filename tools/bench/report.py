"""Prints the benchmark table from out/bench/*.json (floor next to the bridge, and the ratio) and
draws out/bench/latency.png (p50/p99 against the scan rate) with gnuplot."""

import json
import os
import subprocess
import sys

out = sys.argv[1]
since = float(sys.argv[2]) if len(sys.argv) > 2 else 0  # older files are from an earlier run


def fresh(p):
    return os.path.exists(p) and os.path.getmtime(p) >= since


def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if fresh(p) else None


def row(label, bridge, floor):
    ratio = f"{bridge / floor:5.1f}x" if floor else "   - "
    return f"  {label:<34} {bridge:9.2f} ms   floor {floor:7.2f} ms   {ratio}"


peak, peak_floor, rss = load("peak.json"), load("peak-floor.json"), load("peak-rss.json")
if peak and peak_floor:
    print(f"Gate peak: {peak['scans']} scans at {peak['rate']:.0f}/s, {peak['ws_clients']} WebSocket owners")
    two, one = peak_floor["two_hops"], peak_floor["one_hop"]
    for q in ("p50", "p90", "p99", "p999", "max"):
        print(row(f"answer {q}", peak["answer"][f"{q}_ms"], two[f"{q}_ms"]))
    for q in ("p50", "p99"):
        print(row(f"WebSocket event {q}", peak["ws_event"][f"{q}_ms"], two[f"{q}_ms"]))
        print(row(f"MQTT event {q}", peak["mqtt_event"][f"{q}_ms"], two[f"{q}_ms"]))
    for k in ("answer", "ws_event", "mqtt_event"):
        print(f"  {k}: lost {peak[k]['lost']}, duplicated {peak[k]['duplicates']}")
    print(f"  p99 added over the two-hop floor: {peak['answer']['p99_ms'] - two['p99_ms']:.2f} ms")
    if rss:
        print(f"  bridge RSS {rss['rss_before_kib'] / 1024:.0f} -> {rss['rss_after_kib'] / 1024:.0f} MiB")
        if "cpu_us" in rss:
            per_scan = (rss["cpu_us"] - rss["cpu0_us"]) / max(peak["scans"], 1)
            print(f"  bridge CPU {per_scan:.0f} us per scan (user + system)")

gate, gate_floor, gate_cpu = load("gate.json"), load("gate-floor.json"), load("gate-cpu.json")
if gate and gate_floor:
    kind = "device (plain-text)" if gate.get("device") else "JSON"
    print(f"Gate: {gate['scans']} {kind} scans at {gate['rate']:.0f}/s, {gate['ws_clients']} WebSocket "
          f"owners, {gate['native_owners']} native MQTT owners")
    two = gate_floor["two_hops"]
    for k, label in (("answer", "answer"), ("ws_event", "WebSocket event"), ("mqtt_event", "MQTT event")):
        for q in ("p50", "p99"):
            print(row(f"{label} {q}", gate[k][f"{q}_ms"], two[f"{q}_ms"]))
        print(f"    {label}: expected {gate[k]['expected']}, lost {gate[k]['lost']}, "
              f"duplicated {gate[k]['duplicates']}")
    print(f"  p99 over the two-hop floor: answer {gate['answer']['p99_ms'] - two['p99_ms']:.2f} ms, "
          f"WebSocket {gate['ws_event']['p99_ms'] - two['p99_ms']:.2f} ms")
    n = max(gate["scans"], 1)
    if gate_cpu:
        print(f"  CPU per scan: bridge {gate_cpu['bridge_cpu_us'] / n:.0f} us, broker "
              f"{gate_cpu['broker_cpu_us'] / n:.0f} us, load generator {gate['loadgen_cpu_us'] / n:.0f} us")
    fn = max(gate_floor["two_hops"]["count"], 1)
    fcpu = f", broker {gate_cpu['floor_broker_cpu_us'] / fn:.0f} us" if gate_cpu else ""
    print(f"  floor CPU per message pair: load generator {gate_floor['loadgen_cpu_us'] / fn:.0f} us{fcpu}")

steps = []
p = os.path.join(out, "throughput.jsonl")
if fresh(p):
    steps = [json.loads(line) for line in open(p) if line.strip()]
    print("Throughput (10 s per step):")
    print("  rate/s   answered/s   p50 ms   p99 ms   floor p99   lost   generator us/scan")
    best = 0
    for s in steps:
        a = s["scans"]["answer"]
        ok = a["p99_ms"] <= 50 and a["lost"] == 0 and s["scans"]["answered_per_s"] >= 0.95 * s["rate"]
        if ok:
            best = max(best, s["scans"]["answered_per_s"])
        lg = s["scans"].get("loadgen_cpu_us", 0) / max(s["scans"]["scans"], 1)
        print(f"  {s['rate']:6.0f}   {s['scans']['answered_per_s']:10.0f}   {a['p50_ms']:6.2f}   "
              f"{a['p99_ms']:6.2f}   {s['floor']['two_hops']['p99_ms']:9.2f}   {a['lost']:4}   {lg:8.0f}")
    kept = max((s["scans"]["answered_per_s"] for s in steps
                if s["scans"]["answer"]["lost"] == 0 and s["scans"]["answered_per_s"] >= 0.95 * s["rate"]),
               default=0)
    print(f"  highest rate with p99 <= 50 ms: {best:.0f}/s; highest rate kept up with: {kept:.0f}/s")

p = os.path.join(out, "scale.jsonl")
if fresh(p):
    print("Scale (10 s per step; WebSocket owners on the first bridge; CPU in us per scan):")
    print("  config          rate/s  answered/s  p99 ms  ws p99 ms  lost  bridges            postgres  broker"
          "  statements/scan")
    for line in open(p):
        if not line.strip():
            continue
        s = json.loads(line)
        n, a, w = max(s["scans"], 1), s["answer"], s["ws_event"]
        bridges = "+".join(f"{c / n:.0f}" for c in s["bridge_cpu_us"])
        print(f"  {s['config']:<14} {s['rate']:7.0f}  {s['answered_per_s']:10.0f}  {a['p99_ms']:6.2f}  "
              f"{w['p99_ms']:9.2f}  {a['lost']:4}  {bridges:<17} {s['postgres_cpu_us'] / n:8.0f}  "
              f"{s['broker_cpu_us'] / n:6.0f}  {s.get('postgres_statements', 0) / n:15.1f}")

conns = load("connections.json")
if conns:
    print(f"Connections: {conns['connected']} idle WebSocket clients ({conns['failed']} failed), "
          f"connected in {conns['connect_seconds']:.1f} s, {conns['bytes_per_connection']:.0f} bytes each; "
          f"pushes {conns['pushes_accepted']}, events received {conns['events_received']}")

push = load("push.json")
if push:
    print(f"Push API: {push['requests_per_s']:.0f} requests/s, p50 {push['p50_ms']:.2f} ms, "
          f"p99 {push['p99_ms']:.2f} ms, non-2xx {push['non_2xx']}")

ramp = load("push-ramp.json")
if ramp:
    print(f"Push API, open loop ({ramp['clients']} WebSocket clients, {ramp['connections']} connections, "
          f"{ramp.get('seconds', 10)} s per step):")
    print("  rate/s   answered/s   answer p50/p99 ms   event p50/p99 ms   lost   bridge us/push   sustained"
          "   generator late ms")
    for s in ramp["steps"]:
        a, e = s["answer"], s["ws_event"]
        cpu = s.get("watched_cpu_us", 0) / max(s["pushes"], 1)
        print(f"  {s['rate']:6.0f}   {s['answered_per_s']:10.0f}   {a['p50_ms']:7.2f} / {a['p99_ms']:7.2f}   "
              f"{e['p50_ms']:6.2f} / {e['p99_ms']:7.2f}   {a['lost'] + e['lost']:4}   {cpu:14.0f}   "
              f"{('yes' if s['sustained'] else 'no'):>9}   {s.get('hand_over_late_max_ms', 0):8.1f}")

if steps:
    data = os.path.join(out, "latency.dat")
    with open(data, "w") as f:
        for s in steps:
            a, fl = s["scans"]["answer"], s["floor"]["two_hops"]
            f.write(f"{s['rate']} {a['p50_ms']} {a['p99_ms']} {fl['p50_ms']} {fl['p99_ms']}\n")
    script = f"""
set terminal pngcairo size 800,480
set output '{os.path.join(out, 'latency.png')}'
set title 'Scan to answer latency against load (loopback, 2 cores)'
set xlabel 'scans per second'
set ylabel 'milliseconds'
set logscale y
set key top left
set arrow from graph 0, first 50 to graph 1, first 50 nohead dashtype 3
set label '50 ms' at graph 0.01, first 60
plot '{data}' using 1:2 with linespoints title 'bridge p50', \\
     '{data}' using 1:3 with linespoints title 'bridge p99', \\
     '{data}' using 1:4 with linespoints dashtype 2 title 'broker two hops p50', \\
     '{data}' using 1:5 with linespoints dashtype 2 title 'broker two hops p99'
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        print(f"Plot: {os.path.join(out, 'latency.png')}")
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"no plot: {e}")

sc = load("syscalls.json")
if sc:
    top = ", ".join(f"{k} {v / max(sc['scans'], 1):.1f}" for k, v in sc["top"].items())
    print(f"System calls per scan: {sc['per_scan']:.1f} ({top})")

checks = load("checks.json")
if checks:
    print(f"Checks per scan: broker plugin {checks['plugin_scan_check_us']:.2f} us, "
          f"Response Topic rule {checks['response_topic_check_us']:.3f} us")
    if "feed_key_us" in checks:
        print(f"Gates' feed: key {checks['feed_key_us']:.2f} us per admitted signed scan, "
              f"{checks['feed_payload_per_entry_us']:.2f} us per entry of an update; a gate "
              f"merges a full chunk in {checks['feed_chunk_new_ms']:.0f} ms "
              f"({checks['feed_chunk_again_ms']:.0f} ms again)")
