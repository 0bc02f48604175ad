#!/usr/bin/env python3
"""Loopback load test for kinora serve (run by hand; not part of CI).
N clients for S seconds, each submitting a job and polling it until it ends; prints request counts,
throughput, latency percentiles and the server's CPU/memory from /metrics.
usage: tests/e2e/load.py PORT KEY [CLIENTS=50] [SECONDS=30]"""
import http.client, json, sys, threading, time

port, key = int(sys.argv[1]), sys.argv[2]
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 50
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 30
lat = {"POST": [], "GET": []}
codes = {}
lock = threading.Lock()
end = time.monotonic() + seconds

def call(conn, method, path, body=None):
    t = time.monotonic()
    hdr = {"Authorization": "Bearer " + key}
    if body is not None:
        hdr["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=hdr)
    r = conn.getresponse()
    data = r.read()
    dt = time.monotonic() - t
    with lock:
        lat[method].append(dt)
        codes[r.status] = codes.get(r.status, 0) + 1
    return r.status, data

def client(i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    n = 0
    while time.monotonic() < end:
        n += 1
        st, data = call(conn, "POST", "/v1/videos", json.dumps({"prompt": "load %d %d" % (i, n), "steps": 2, "keyframes": 2, "frames": 4}))
        if st != 202:
            time.sleep(0.05)
            continue
        vid = json.loads(data)["id"]
        while time.monotonic() < end:
            st, data = call(conn, "GET", "/v1/videos/" + vid)
            if st != 200 or json.loads(data)["state"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.1)

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * len(v)))] * 1000 if v else 0

t0 = time.monotonic()
threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
wall = time.monotonic() - t0
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
conn.request("GET", "/metrics")
metrics = conn.getresponse().read().decode()
pick = lambda name: next((l.split()[-1] for l in metrics.splitlines() if l.startswith(name + " ")), "?")
total = sum(len(v) for v in lat.values())
print("clients %d, %.1f s, %d requests (%.0f/s), status counts %s" % (clients, wall, total, total / wall, dict(sorted(codes.items()))))
for m in ("POST", "GET"):
    print("%-4s n=%-6d p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms" % (m, len(lat[m]), pct(lat[m], 50), pct(lat[m], 95), pct(lat[m], 99), pct(lat[m], 100)))
print("server: cpu %s s, rss %s bytes, peak rss %s bytes" % (pick("kinora_process_cpu_seconds_total"), pick("kinora_process_resident_memory_bytes"), pick("kinora_process_max_resident_memory_bytes")))
