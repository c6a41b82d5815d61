"""The connector contract, checked for every registered connector type against its harness."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import Clock, Sleeps
from tests.contract.harness import FAULTS, ConnectorHarness
from tracker import registry
from tracker.config import parse_config
from tracker.poller import Poller, RunResult
from tracker.schema import mentions
from tracker.store import Store

TYPES = sorted(registry.available())


def test_every_registered_connector_has_a_contract_harness() -> None:
    missing = [t for t in TYPES if importlib.util.find_spec(f"tests.contract.harnesses.{t}") is None]
    assert missing == [], f"add tests/contract/harnesses/<type>.py for: {missing}"


@pytest.fixture(params=TYPES)
def harness(request: pytest.FixtureRequest) -> Iterator[ConnectorHarness]:
    module = importlib.import_module(f"tests.contract.harnesses.{request.param}")
    instance: ConnectorHarness = module.Harness()
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


class Rig:
    """A store and a poller for one connector instance named ``under_test``."""

    def __init__(self, harness: ConnectorHarness, tmp_path: Path) -> None:
        self.harness = harness
        self.clock = Clock(harness.now())
        self.sleeps = Sleeps()
        data = {
            "tracker": {"data_dir": str(tmp_path / "data")},
            "domains": [{"name": harness.domain}],
            "connectors": {"under_test": {"type": harness.type, **harness.settings()}},
        }
        self.config = parse_config(data, tmp_path / "tracker.toml", harness.env())
        self.store = Store.open(self.config.database_url)

    def poll(self) -> RunResult:
        poller = Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps)
        try:
            return poller.poll("under_test")
        finally:
            poller.close()

    def ids(self) -> set[str]:
        return {m.platform_id for m in self.store.iter_mentions()}

    def rows(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(mentions)).scalar() or 0)


@pytest.fixture
def rig(harness: ConnectorHarness, tmp_path: Path) -> Iterator[Rig]:
    made = Rig(harness, tmp_path)
    yield made
    made.store.close()


def test_a_first_pass_finds_exactly_the_mentions_the_recordings_hold(rig: Rig) -> None:
    expected = rig.harness.expected()
    assert expected, "the harness's domain must appear in its recordings"
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    assert rig.ids() == expected
    assert result.new == len(expected)


def test_a_later_pass_resumes_from_the_cursor_and_finds_only_what_is_new(rig: Rig) -> None:
    first = rig.harness.expected()
    rig.poll()
    more = rig.harness.publish_more()
    assert more and not more & first
    rig.clock.advance(hours=1)
    result = rig.poll()
    assert (result.status, result.new) == ("ok", len(more))
    assert rig.ids() == first | more
    assert rig.rows() == len(first | more)


def test_overlapping_passes_never_duplicate(rig: Rig) -> None:
    rig.poll()
    before = rig.rows()
    for _ in range(2):
        rig.clock.advance(minutes=1)
        again = rig.poll()
        assert (again.status, again.new) == ("ok", 0)
    assert rig.rows() == before == len(rig.ids())


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_is_reported_in_the_run_and_loses_nothing(rig: Rig, fault: str) -> None:
    rig.harness.break_server(fault)
    broken = rig.poll()
    assert broken.status == "failed"
    assert broken.error
    assert rig.store.run(broken.run_id)["error"] == broken.error  # type: ignore[arg-type]
    rig.harness.heal()
    rig.clock.advance(minutes=10)
    healed = rig.poll()
    assert healed.status == "ok"
    assert rig.ids() == rig.harness.expected()


def test_unknown_fields_in_payloads_are_tolerated(rig: Rig) -> None:
    rig.harness.add_unknown_fields()
    result = rig.poll()
    assert (result.status, result.skipped) == ("ok", 0)
    assert rig.ids() == rig.harness.expected()
