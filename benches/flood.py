#!/usr/bin/env python3
"""A silent-connection flood for benches/flood.sh (issue 18).

Opens COUNT TCP connections to HOST:PORT from SOURCE (one client address) and sends
nothing; once a second it closes them all and opens COUNT new ones, as an attacker does when
the server cuts them. Runs for DURATION seconds, then prints one JSON line: rounds, connections
opened, connects that failed or timed out, and how many of each round's connections the
server had already closed by the end of their second (evicted or cut).

With --probe-signed-url (and --auth-token, --account-sid), it also sends a signed inbound
SMS webhook on a new connection from 127.0.0.1 every --probe-every seconds while the flood
runs, as a provider does (one request per connection, sent at once, like curl), and reports
what each got: its HTTP status, "reset" (the connection was reset), "closed" (closed
without an answer) or "timeout" (no answer in 5 s).

    benches/flood.py --target 127.0.0.1:3335 --count 10240 --duration 12 --source 127.0.0.2

Only loopback targets are accepted.
"""

import argparse
import base64
import errno
import hashlib
import hmac
import threading
import urllib.parse
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
    p.add_argument("--probe-signed-url", help="the URL webhooks are signed for (enables probes)")
    p.add_argument("--probe-path", default="/telephony/webhook")
    p.add_argument("--probe-every", type=float, default=0.1)
    p.add_argument("--auth-token", help="Twilio auth token to sign probes with")
    p.add_argument("--account-sid", help="AccountSid of the probes")
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
    probes = {}
    prober = None
    if a.probe_signed_url:
        prober = threading.Thread(target=probe_loop, args=(a, host, int(port), end, probes))
        prober.start()
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
    if prober:
        prober.join()
        stats["probes"] = probes
    print(json.dumps(stats))


def signed_webhook(a, n):
    """A signed inbound SMS (Twilio's form and X-Twilio-Signature) as raw request bytes."""
    params = {
        "AccountSid": a.account_sid,
        "MessageSid": "SM%032x" % (int(time.time() * 1e6) * 1000 + n),
        "From": "+15557650%03d" % (n % 1000),
        "To": "+15005550006",
        "Body": "probe %d" % n,
        "NumMedia": "0",
    }
    data = a.probe_signed_url + "".join(k + params[k] for k in sorted(params))
    sig = base64.b64encode(
        hmac.new(a.auth_token.encode(), data.encode(), hashlib.sha1).digest()
    ).decode()
    body = urllib.parse.urlencode(params)
    return (
        f"POST {a.probe_path} HTTP/1.1\r\nHost: probe\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {sig}\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n{body}"
    ).encode()


def probe_loop(a, host, port, end, out):
    n = 0
    while time.monotonic() < end - 0.5:
        n += 1
        t0 = time.monotonic()
        outcome = probe_once(a, host, port, n)
        out[outcome] = out.get(outcome, 0) + 1
        time.sleep(max(0.0, a.probe_every - (time.monotonic() - t0)))


def probe_once(a, host, port, n):
    try:
        s = socket.create_connection((host, port), timeout=5)
    except OSError as e:
        return "connect_failed"
    try:
        s.sendall(signed_webhook(a, n))
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        if not got:
            return "closed"
        return got.split(b" ", 2)[1].decode()
    except ConnectionResetError:
        return "reset"
    except BrokenPipeError:
        return "reset"
    except socket.timeout:
        return "timeout"
    finally:
        s.close()


if __name__ == "__main__":
    main()
