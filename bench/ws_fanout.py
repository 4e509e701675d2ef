"""Websocket fan-out of the live dashboard on the embedded default (Daphne + SQLite outbox).

Measures, against one Daphne process:
  1. the time from a block event's commit to its arrival at each of N websocket clients (p50, p95), next to
     the same measured with one client (the reference: what fan-out to N costs on top of one delivery);
  2. the server's resident memory counted from before its first websocket connection (the server started and
     answering HTTP): after the fan-out, then after 1,000 more connect/disconnect cycles. No warm-up is left
     out of the figure: whatever the server keeps from its connections is in it.
Targets (issue 6): p95 < 500 ms with 200 clients; memory growth < 10 %. Exits 1 when a target is missed.

    .venv/bin/python bench/ws_fanout.py            # 200 clients, 30 blocks, 1,000 cycles
    .venv/bin/python bench/ws_fanout.py --quick    # 50 clients, 8 blocks, 200 cycles
"""

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _django import BASE_DIR, run_and_remove, setup_django

DATA_DIR = setup_django("ws")

from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from apps.events.services import event_emit  # noqa: E402

P95_TARGET_SECONDS = 0.5
MEMORY_GROWTH_TARGET = 0.10


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Server:
    def __init__(self, *, connections):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "fedchain_site.asgi:application"],
            cwd=BASE_DIR,
            # Every client of the bench comes from 127.0.0.1: the cap on live websockets per address (20 by
            # default, so that one address cannot hold all of a server's connections) is raised to what it opens.
            env={**os.environ, "DJANGO_DEBUG": "1", "FEDCHAIN_LIVE_CONNECTIONS_PER_CLIENT": str(connections)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"ws://127.0.0.1:{self.port}/ws/dashboard/"
        self.origin = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.origin}/healthz/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the Daphne server did not start")
                time.sleep(0.2)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Client:
    """One browser stand-in: takes the snapshot, then notes when each event arrives."""

    def __init__(self, server):
        self.server = server
        self.arrivals = {}
        self.ready = asyncio.Event()
        self.refused = None  # why the server closed the websocket before its snapshot

    async def run(self):
        async with connect(self.server.url, origin=self.server.origin, compression=None, max_size=None) as ws:
            try:
                await ws.send('{"type": "snapshot"}')
                async for text in ws:
                    arrived = time.monotonic()
                    message = json.loads(text)
                    if message["type"] == "snapshot":
                        self.ready.set()
                    elif message["type"] == "block":
                        self.arrivals[message["seq"]] = arrived
            except ConnectionClosed:
                pass
            if not self.ready.is_set():
                self.refused = f"closed with code {ws.close_code} {ws.close_reason!r} before its snapshot"
                self.ready.set()


def commit_block_event(height):
    """Commits a block event as the ledger does (in its own transaction) and returns when it committed."""
    seq = event_emit(type="block", payload={"height": height, "hash": f"{height:064x}", "records": 12}).seq
    return seq, time.monotonic()


async def measure_latency(server, clients, blocks):
    """Commit-to-arrival latencies (seconds) of `blocks` block events at each of `clients` clients."""
    watchers = [Client(server) for _ in range(clients)]
    tasks = [asyncio.create_task(watcher.run()) for watcher in watchers]
    await asyncio.wait_for(asyncio.gather(*(watcher.ready.wait() for watcher in watchers)), timeout=120)
    refused = [watcher.refused for watcher in watchers if watcher.refused]
    if refused:
        raise RuntimeError(f"{len(refused)} of {clients} websockets were refused: {refused[0]}")
    committed = {}
    for height in range(blocks):
        # Commits land at random moments relative to the server's poll, as real blocks do.
        await asyncio.sleep(random.uniform(0.15, 0.35))
        seq, at = await asyncio.to_thread(commit_block_event, height)
        committed[seq] = at
    deadline = time.monotonic() + 10
    while any(len(w.arrivals) < blocks for w in watchers) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    missing = sum(blocks - len(w.arrivals) for w in watchers)
    if missing:
        raise RuntimeError(f"{missing} block events never arrived")
    return [w.arrivals[seq] - at for w in watchers for seq, at in committed.items()]


CYCLE_CONCURRENCY = 10  # connections the connect/disconnect cycles open at once


async def connect_disconnect(server, cycles, concurrency=CYCLE_CONCURRENCY):
    async def one():
        async with connect(server.url, origin=server.origin, compression=None, max_size=None) as ws:
            await ws.send('{"type": "snapshot"}')
            assert json.loads(await ws.recv())["type"] == "snapshot"

    for start in range(0, cycles, concurrency):
        await asyncio.gather(*(one() for _ in range(min(concurrency, cycles - start))))


async def bench(clients, blocks, cycles):
    server = Server(connections=max(clients, CYCLE_CONCURRENCY))
    try:
        first = await settled_rss(server)  # before the first websocket connection
        reference = await measure_latency(server, 1, blocks)
        fanout = await measure_latency(server, clients, blocks)
        after_fanout = await settled_rss(server)
        await connect_disconnect(server, cycles)
        after = await settled_rss(server)
    finally:
        server.stop()
    return reference, fanout, (first, after_fanout, after)


async def settled_rss(server):
    await asyncio.sleep(1)
    return rss_kib(server.process.pid)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 clients, 8 blocks, 200 cycles")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--blocks", type=int)
    parser.add_argument("--cycles", type=int)
    args = parser.parse_args()
    clients = args.clients or (50 if args.quick else 200)
    blocks = args.blocks or (8 if args.quick else 30)
    cycles = args.cycles or (200 if args.quick else 1000)
    reference, fanout, (first, after_fanout, after) = asyncio.run(bench(clients, blocks, cycles))

    ms = 1000
    ref50, ref95 = percentile(reference, 0.5), percentile(reference, 0.95)
    p50, p95 = percentile(fanout, 0.5), percentile(fanout, 0.95)
    growth = after / first - 1
    print(f"commit-to-arrival, 1 client ({blocks} blocks):     p50 {ref50 * ms:6.1f} ms  p95 {ref95 * ms:6.1f} ms")
    print(f"commit-to-arrival, {clients} clients ({len(fanout)} arrivals): p50 {p50 * ms:6.1f} ms  "
          f"p95 {p95 * ms:6.1f} ms  max {max(fanout) * ms:6.1f} ms  mean {statistics.fmean(fanout) * ms:6.1f} ms")
    print(f"fan-out cost: p95 with {clients} clients / p95 with 1 client = {p95 / ref95:.2f}x")
    print(f"server memory (RSS) from before its first websocket: {first / 1024:.1f} MiB; after the fan-out "
          f"({1 + clients} connections) {after_fanout / 1024:.1f} MiB ({after_fanout / first - 1:+.1%}); after "
          f"{cycles} more connect/disconnect cycles {after / 1024:.1f} MiB: {growth:+.1%} in all "
          f"({(after - after_fanout) / cycles:+.2f} KiB per cycle)")
    ok = p95 < P95_TARGET_SECONDS and growth < MEMORY_GROWTH_TARGET
    print(f"targets: p95 < {P95_TARGET_SECONDS * ms:.0f} ms, memory growth < {MEMORY_GROWTH_TARGET:.0%}: "
          f"{'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    run_and_remove(main, DATA_DIR)
