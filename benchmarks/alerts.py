"""Alert latency: a Jetstream event linking to the domain, until its signed webhook reaches the receiver, through
a real `tracker run` daemon (loopback Jetstream, AppView and webhook receiver), one event at a time. The floor is
one webhook POST to the same receiver, measured in the same run."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, Row, python

TARGET_P95 = 3.0  # seconds
SECRET = "benchmark-secret"  # noqa: S105 - a key for the loopback receiver


def _event(index: int) -> str:
    from benchmarks.data import jetstream_lines

    event = json.loads(jetstream_lines(1)[0])  # the first line links to example.com
    event["time_us"] = int(time.time() * 1_000_000)
    event["did"] = f"did:plc:alerts{index:07d}"
    commit = event["commit"]
    commit["rkey"] = f"3alerts{index:09d}"
    commit["record"]["createdAt"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return json.dumps(event, separators=(",", ":"))


def _floor(receiver_url: str) -> float:
    """Median seconds of one signed webhook POST to the receiver (the part of the path no tracker can skip)."""
    import httpx

    from tracker.connector import ConnectorContext
    from tracker.delivery import sign
    from tracker.transport import client_options

    context = ConnectorContext(data_dir=Path(tempfile.gettempdir()), max_response_size=65536)
    times = []
    with httpx.Client(**client_options(context, 10.0, follow_redirects=False)) as client:
        for index in range(30):
            body = json.dumps({"id": f"floor-{index}", "event": "floor"}).encode()
            started = time.perf_counter()
            client.post(receiver_url, content=body, headers={
                "X-Tracker-Delivery": f"floor-{index}", "X-Tracker-Signature": sign(SECRET, body)})  # fmt: skip
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(count: int) -> tuple[list[float], float]:
    from tests.support.bluesky_data import FakeAppView
    from tests.support.http_server import RecordingServer
    from tests.support.jetstream_server import JetstreamServer
    from tests.support.webhook_receiver import WebhookReceiver

    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, RecordingServer() as api, JetstreamServer() as stream, \
            WebhookReceiver(SECRET) as receiver:  # fmt: skip
        appview = FakeAppView(api)
        config = Path(tmp) / "tracker.toml"
        config.write_text(f"""
[tracker]
data_dir = "data"
[reports]
output_dir = "out"
[[domains]]
name = "example.com"
[connectors.bluesky_stream]
type = "jetstream"
endpoints = ["{stream.url}"]
appview_url = "{appview.url}"
[[alerts]]
name = "bench"
on = ["new_mention"]
webhook_url = "{receiver.url}/hook"
webhook_secret = "{SECRET}"
""", encoding="utf-8")  # fmt: skip
        log = (Path(tmp) / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [python(), "-m", "tracker.cli", "--config", str(config), "run"],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not stream.queries and time.monotonic() < deadline:  # connected
                time.sleep(0.05)
            for index in range(count):
                before = len(receiver.accepted)
                started = time.perf_counter()
                stream.add([_event(index)])
                if not receiver.wait_for(lambda before=before: len(receiver.accepted) > before, timeout=30):
                    raise RuntimeError(f"event {index} never reached the webhook; see the daemon's log")
                latencies.append(time.perf_counter() - started)
            floor = _floor(receiver.url + "/hook")
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            log.close()
    return latencies, floor


def run(quick: bool) -> list[Row]:
    count = 10 if quick else 100
    latencies, floor = measure(count)
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return [
        Row("alerts", f"Jetstream event → signed webhook, p95 of {count} events (median {statistics.median(latencies):.2f} s)",
            f"{p95:.2f} s", f"{floor * 1000:.1f} ms", f"{p95 / floor:,.0f}x", f"p95 <= {TARGET_P95:g} s",
            None if quick else p95 <= TARGET_P95),
    ]  # fmt: skip
