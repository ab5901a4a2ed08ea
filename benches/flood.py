#!/usr/bin/env python3
"""A silent-connection flood for benches/flood.sh (issue 18).

Opens COUNT TCP connections to HOST:PORT from SOURCE (one client address) and sends
nothing; once a second it closes them all and opens COUNT new ones, as an attacker does when
the server cuts them. Runs for DURATION seconds, then prints one JSON line: rounds, connections
opened, connects that failed or timed out, and how many of each round's connections the
server had already closed by the end of their second (evicted or cut).

    benches/flood.py --target 127.0.0.1:3335 --count 10240 --duration 12 --source 127.0.0.2

Only loopback targets are accepted.
"""

import argparse
import errno
import ipaddress
import json
import resource
import select
import socket
import struct
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="HOST:PORT of the public listener")
    p.add_argument("--count", type=int, required=True, help="silent connections per round")
    p.add_argument("--duration", type=float, required=True, help="seconds to flood")
    p.add_argument("--source", default="127.0.0.2", help="client address (default 127.0.0.2)")
    a = p.parse_args()
    host, port = a.target.rsplit(":", 1)
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("flood.py: loopback targets only")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            sys.exit(f"flood.py: {a.count} sockets need ulimit -n >= {want} (hard limit {hard})")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    end = time.monotonic() + a.duration
    stats = {"rounds": 0, "opened": 0, "failed": 0, "closed_by_server": 0}
    while time.monotonic() < end:
        started = time.monotonic()
        socks = []
        ep = select.epoll()
        for _ in range(a.count):
            if time.monotonic() >= started + 1.0:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # The port is picked at connect (per destination), and a close resets instead
            # of leaving the port in TIME_WAIT: 10,000 connections a second from one
            # address would run out of ports otherwise.
            s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24), 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.bind((a.source, 0))
            s.setblocking(False)
            rc = s.connect_ex((host, int(port)))
            if rc not in (0, errno.EINPROGRESS):
                stats["failed"] += 1
                s.close()
                continue
            socks.append(s)
            ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        stats["opened"] += len(socks)
        # Hold them until the round's second is up, then count the ones the server closed.
        left = started + 1.0 - time.monotonic()
        if left > 0:
            time.sleep(left)
        closed = {fd for fd, _ in ep.poll(0, maxevents=len(socks) or 1)}
        stats["closed_by_server"] += len(closed)
        for s in socks:
            s.close()
        ep.close()
        stats["rounds"] += 1
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
