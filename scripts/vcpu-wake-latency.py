#!/usr/bin/env python3
"""The machine's own wake-up tail, for reading loadgen --realtime figures.

A thread pinned to CPU 0 wakes a thread blocked on CPU 1 through a socketpair, N times at
random 0.2-2 ms intervals, and the one-way latency (write -> read returned) is reported.
On an idle machine this is the floor under any cross-CPU hand-off the gateway makes.

Usage: python3 scripts/vcpu-wake-latency.py [N]   (default 20000; needs 2 CPUs)
"""
import os
import random
import socket
import sys
import threading
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
a, b = socket.socketpair()
lat = []


def receiver():
    os.sched_setaffinity(0, {1})
    for _ in range(N):
        sent = int.from_bytes(b.recv(8), "little")
        lat.append(time.perf_counter_ns() - sent)


t = threading.Thread(target=receiver)
t.start()
os.sched_setaffinity(0, {0})
for _ in range(N):
    time.sleep(random.uniform(0.0002, 0.002))
    a.send(time.perf_counter_ns().to_bytes(8, "little"))
t.join()
lat.sort()


def q(p):
    return lat[int(p * (len(lat) - 1))] / 1e6


print(
    f"one-way wake-up over a socketpair, CPU 0 -> CPU 1, {N} samples: "
    f"p50 {q(.5):.3f} p90 {q(.9):.3f} p99 {q(.99):.3f} p99.9 {q(.999):.3f} max {lat[-1] / 1e6:.3f} ms"
)
