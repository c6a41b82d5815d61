"""Page checks: checking 10,000 linked pages against a loopback site (reached through ``[tracker] connect_to``)
keeps to the per-host rate and costs the process little memory.

The pages are spread over 4 hosts (subdomains of the own domain), as many as the checker works on at once, so
each host is kept busy at ``requests_per_second`` (25 here, so the run takes minutes, not hours) and the rate
is what limits the run. The rate is judged by the site's clock:
the most requests one host received in any one-second window, against the rate (one more is allowed: a
window's edges may catch two turns). Memory is the checking process's peak RSS above its RSS just before the
run (the floor: the same process with the store open and everything imported).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_right
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.common import Row, python

PAGES = 10_000
HOSTS = 4
RATE = 25.0  # requests a second to one host
EXTRA_MB_TARGET = 50
_PAGE = (
    b"<!doctype html><html><head><title>A page</title><link rel=canonical href=/p>"
    b'<meta name="robots" content="index"></head><body>' + b"x" * 20_000 + b"</body></html>"
)


def _site(seen: dict[str, list[float]], lock: threading.Lock) -> ThreadingHTTPServer:
    class Site(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            host = (self.headers.get("Host") or "").split(":", 1)[0]
            with lock:
                seen.setdefault(host, []).append(time.monotonic())
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(_PAGE)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(_PAGE)

        do_GET = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _busiest_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max(
        (bisect_right(ordered, start + 1.0 - 1e-9) - index for index, start in enumerate(ordered)), default=0
    )


_CHILD = """
import json, sys, threading, time
from datetime import UTC, datetime
from tracker.config import load_config
from tracker.page_checker import PageChecker
from tracker.store import Store

def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

config = load_config(sys.argv[1])
store = Store.open(config.database_url)
checker = PageChecker(config, store, clock=lambda: datetime.now(UTC))
with store.read() as conn:
    pass
floor = rss()
peak = [floor]
done = threading.Event()
def watch():
    while not done.wait(0.1):
        peak[0] = max(peak[0], rss())
threading.Thread(target=watch, daemon=True).start()
started = time.monotonic()
result = checker.run()
done.set()
peak[0] = max(peak[0], rss())
print(json.dumps({"floor": floor, "peak": peak[0], "checked": result.checked, "requests": result.requests,
                  "seconds": time.monotonic() - started}))
"""


def run(quick: bool, pages: int | None = None) -> list[Row]:
    count = pages or (200 if quick else PAGES)
    seen: dict[str, list[float]] = {}
    server = _site(seen, threading.Lock())
    base = f"http://127.0.0.1:{server.server_address[1]}"
    hosts = [f"h{index}.example.com" for index in range(HOSTS)]
    with tempfile.TemporaryDirectory() as tmp:
        connect = ", ".join(f'"{host}" = "{base}"' for host in hosts)
        config = Path(tmp) / "tracker.toml"
        config.write_text(
            f'[tracker]\ndata_dir = "data"\nconnect_to = {{{connect}}}\n[[domains]]\nname = "example.com"\n'
            f'[pages]\nrequests_per_second = {RATE}\ntimeout = "10s"\n',
            encoding="utf-8",
        )
        _link_pages(config, hosts, count)
        child = subprocess.run(
            [python(), "-c", _CHILD, str(config)], capture_output=True, text=True, check=False, timeout=3600
        )
    server.shutdown()
    if child.returncode != 0:
        raise RuntimeError(f"the page-check run failed: {child.stderr.strip().splitlines()[-1:]}")
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    busiest = max((_busiest_second(times) for times in seen.values()), default=0)
    extra = figures["peak"] - figures["floor"]
    judged = not quick and figures["checked"] == count
    return [
        Row("pages", f"{figures['checked']:,} of {count:,} linked pages checked, {figures['requests']:,} requests over {HOSTS} hosts",
            f"{figures['seconds']:.0f} s", "-", "-", "every page", None if quick else figures["checked"] == count),
        Row("pages", "most requests to one host in any second", f"{busiest}", f"{RATE:g}/s (rate)",
            f"{busiest / RATE:.2f}", "<= rate + 1", None if quick else busiest <= RATE + 1),
        Row("pages", "the checking process's peak RSS above its floor", f"{extra:.1f} MB",
            f"{figures['floor']:.0f} MB", f"{figures['peak'] / figures['floor']:.2f}", f"< {EXTRA_MB_TARGET} MB",
            None if not judged else extra < EXTRA_MB_TARGET),
    ]  # fmt: skip


def _link_pages(config: Path, hosts: list[str], count: int) -> None:
    """The pages table as ingest leaves it: ``count`` linked pages of the own domain."""
    from tracker.config import load_config
    from tracker.schema import pages
    from tracker.store import Store

    store = Store.open(load_config(config).database_url)
    try:
        now = datetime.now(UTC)
        rows = [
            {"canonical_url": f"https://{hosts[index % len(hosts)]}/page/{index}", "domain": "example.com",
             "first_linked_at": now}
            for index in range(count)
        ]  # fmt: skip
        with store.engine.begin() as conn:
            conn.execute(pages.insert(), rows)
    finally:
        store.close()


if __name__ == "__main__":
    for row in run("--quick" in sys.argv, int(sys.argv[-1]) if sys.argv[-1].isdigit() else None):
        print(row)
