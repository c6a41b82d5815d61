"""Idle: RSS and CPU of `tracker run` with Hacker News, X and Reddit enabled, over a minute against quiet
local servers."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.common import Row, python

RSS_TARGET_MB = 150
CPU_TARGET = 1.0  # percent of one core


QUIET = {  # path prefix -> the answer when there is nothing new
    "/api/v1/": b'{"hits": [], "nbHits": 0, "page": 0, "nbPages": 0, "hitsPerPage": 100}',
    "/2/tweets/search/recent": b'{"meta": {"result_count": 0}}',
    "/reddit/": b'{"kind": "Listing", "data": {"after": null, "before": null, "children": [], "dist": 0}}',
    "/auth/": b'{"access_token": "idle", "token_type": "bearer", "expires_in": 86400, "scope": "*"}',
}


class _Quiet(BaseHTTPRequestHandler):
    """Answers Hacker News, X and Reddit with 'nothing new'."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = next((reply for prefix, reply in QUIET.items() if self.path.startswith(prefix)), b"{}")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _sample(pid: int) -> tuple[float, float]:
    """(RSS in MB, CPU seconds so far) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


def run(quick: bool) -> list[Row]:
    seconds = 5 if quick else 60
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "tracker.toml"
        config.write_text(
            f'[tracker]\ndata_dir = "data"\n[[domains]]\nname = "example.com"\n'
            f'[connectors.hackernews]\napi_base_url = "{base}/api/v1"\ninterval = "10m"\n'
            f'[connectors.x]\nbearer_token = "idle"\napi_base_url = "{base}"\ninterval = "15m"\n'
            f'[connectors.reddit]\nclient_id = "idle"\nclient_secret = "idle"\nuser_agent = "idle benchmark"\n'
            f'api_base_url = "{base}/reddit"\nauth_base_url = "{base}/auth"\ninterval = "10m"\n',
            encoding="utf-8",
        )
        process = subprocess.Popen(
            [python(), "-m", "tracker.cli", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(3)  # start-up and the first polls are not idle time
            _, cpu_start = _sample(process.pid)
            started = time.monotonic()
            peak = 0.0
            while time.monotonic() - started < seconds:
                rss, _ = _sample(process.pid)
                peak = max(peak, rss)
                time.sleep(0.5)
            _, cpu_end = _sample(process.pid)
            cpu = 100 * (cpu_end - cpu_start) / (time.monotonic() - started)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
            server.shutdown()
    return [
        Row("idle", f"`tracker run` peak RSS over {seconds} s", f"{peak:.0f} MB", "-", "-",
            f"<= {RSS_TARGET_MB} MB", None if quick else peak <= RSS_TARGET_MB),
        Row("idle", f"`tracker run` CPU over {seconds} s", f"{cpu:.2f} %", "-", "-",
            f"< {CPU_TARGET} %", None if quick else cpu < CPU_TARGET),
    ]  # fmt: skip
