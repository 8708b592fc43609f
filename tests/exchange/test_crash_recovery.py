"""Durability under SIGKILL: what the exchange acknowledged survives, and recovery is exact.

A child process (``tests/exchange/crash_workload.py``) trades against the store and
prints every command before applying it, the state hash right after applying it
(before durability), and each acknowledgement. The parent kills it with ``SIGKILL``
at a random moment, reopens the store and checks:

(a) every acknowledged record is there: the log reaches at least the last ``ACK``;
(b) the recovered state is exactly the state after the last durable record: its hash
    equals the hash the child printed for that record, and equals the hash of an
    in-memory twin that applied the child's printed commands up to that record;
(c) the whole event log equals the twin's, event for event.

Then the next child continues from the recovered store, and is killed again. A last
child stops on its own and closes the exchange, after which nothing it applied may
be missing. Each backend gets its own chain of runs; failure messages name the seed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from spotlab import ErrorCode, Exchange, SimulatedClock, SpotlabError
from spotlab.clock import ns_to_datetime
from spotlab.store.postgres import split_url
from tests.exchange import crash_workload as workload

ROOT = Path(__file__).resolve().parents[2]
SEED = 20240301
KILLS = 5
KILL_DELAY = (0.0, 0.5)  # seconds after the child reported READY
FINAL_RUN_COMMANDS = 150
READY_SECONDS = 20  # start-up and recovery of the child
OPEN_SECONDS = 20  # the parent's reopen, including waiting for PostgreSQL to notice the dead session


@dataclass
class Run:
    """What one child printed, parsed."""

    ready: tuple[int, str] | None = None
    # (ts, command, result) per CMD line; result is ("PENDING", index, seq, hash), ("REFUSED", code),
    # ("NOOP",) or None when the child died before printing it
    steps: list[tuple[int, Any, tuple | None]] = field(default_factory=list)
    last_ack: int = 0
    done: bool = False


def parse(text: str) -> Run:
    run = Run()
    lines = text.split("\n")[:-1]  # a line without its newline was cut by the kill
    for line in lines:
        word, *rest = line.split(" ")
        if word == "READY":
            run.ready = (int(rest[0]), rest[1])
        elif word == "CMD":
            run.steps.append((int(rest[0]), workload.decode_command(rest[1]), None))
        elif word in ("PENDING", "REFUSED", "NOOP"):
            ts, command, result = run.steps[-1]
            assert result is None, f"two results for one command: {line!r}"
            if word == "PENDING":
                result = ("PENDING", int(rest[0]), int(rest[1]), rest[2])
            else:
                result = (word, *rest)
            run.steps[-1] = (ts, command, result)
        elif word == "ACK":
            run.last_ack = int(rest[0])
        elif word == "DONE":
            run.done = True
        else:
            raise AssertionError(f"unexpected line from the child: {line!r}")
    return run


def last_index(url: str) -> int:
    """The newest record in the store, read by a fresh connection outside spotlab."""
    if url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(url[len("sqlite:///") :])
        try:
            return conn.execute("SELECT coalesce(max(last_idx), 0) FROM log").fetchone()[0]
        finally:
            conn.close()
    conninfo, schema = split_url(url)
    with psycopg.connect(conninfo) as conn:
        return conn.execute(f"SELECT coalesce(max(last_idx), 0) FROM {schema}.log").fetchone()[0]


def reopen(url: str) -> Exchange:
    """``Exchange.open`` after a kill; PostgreSQL may need a moment to notice the dead session's lock."""
    box: dict[str, Any] = {}

    def run() -> None:
        deadline = time.monotonic() + OPEN_SECONDS
        while True:
            try:
                box["exchange"] = Exchange.open(
                    url,
                    clock=SimulatedClock(workload.START),
                    snapshot_every=None,
                    closed_orders_kept=workload.CLOSED_ORDERS_KEPT,
                )
                return
            except SpotlabError as error:
                if error.code is not ErrorCode.STORE_LOCKED or time.monotonic() > deadline:
                    box["error"] = error
                    return
                time.sleep(0.05)
            except BaseException as error:  # noqa: BLE001 - handed to the test
                box["error"] = error
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(OPEN_SECONDS + 5)
    if thread.is_alive():
        pytest.fail(f"Exchange.open({url}) after the kill did not return within {OPEN_SECONDS + 5} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box["exchange"]


class Twin:
    """An in-memory exchange fed the child's commands: the expected state after every record."""

    def __init__(self) -> None:
        self.clock = SimulatedClock(workload.START)
        self.exchange = Exchange.open(clock=self.clock, closed_orders_kept=workload.CLOSED_ORDERS_KEPT)
        self.index = self.exchange.stats()["records"]  # the catalogue's listings

    def apply(self, ts: int, command: Any) -> tuple:
        """Apply one of the child's commands; the result in the child's terms."""
        self.clock.set(ns_to_datetime(ts))
        before = self.exchange.last_sequence
        try:
            _, index = self.exchange.apply(command)
        except SpotlabError as error:
            return ("REFUSED", str(error.code))
        if self.exchange.last_sequence == before:
            return ("NOOP",)
        self.index = index
        return ("PENDING", index, self.exchange.last_sequence, self.exchange.state_hash())


def start_child(url: str, seed: int, run: int, output: Path, limit: int | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    args = [sys.executable, "-m", "tests.exchange.crash_workload", url, str(seed), str(run)]
    if limit is not None:
        args.append(str(limit))
    with open(output, "w") as stdout, open(output.with_suffix(".err"), "w") as stderr:
        return subprocess.Popen(args, stdout=stdout, stderr=stderr, cwd=ROOT, env=env)


def wait_until_ready(child: subprocess.Popen, output: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while True:
        exited = child.poll() is not None  # looked at before the output: a child may print READY, then exit
        text = output.read_text()
        if text.startswith("READY ") and "\n" in text:
            return
        if exited or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    child.kill()
    child.wait()
    err = output.with_suffix(".err").read_text()[-3000:]
    pytest.fail(f"the workload child did not report READY within {READY_SECONDS} s (exit {child.returncode}):\n{err}")


def check_recovery(url: str, run: Run, twin: Twin, before: int, label: str) -> None:
    """Reopen the store after ``run`` ended and hold it to (a), (b) and (c); advance the twin to match.

    The store is reopened before its last index is read: on PostgreSQL the killed child's session
    can outlive the child for a moment and still commit its last group, and reopening waits for that
    session's lock, so only then is the log final.
    """
    ex = reopen(url)
    try:
        recovered_index = last_index(url)
        assert recovered_index >= run.last_ack, (
            f"{label}: record {run.last_ack} was acknowledged, but the log ends at {recovered_index}"
        )
        assert recovered_index >= before, f"{label}: the log shrank from {before} to {recovered_index}"

        child_hash = run.ready[1] if recovered_index == before else None
        for ts, command, result in run.steps:
            if twin.index == recovered_index:
                break
            expected = twin.apply(ts, command)
            if result is not None:
                assert expected == result, f"{label}: the twin and the child differ on {command!r}"
            if expected[0] == "PENDING" and expected[1] == recovered_index:
                child_hash = result[3] if result is not None else None
        assert twin.index == recovered_index, (
            f"{label}: the store holds records up to {recovered_index}, but the child only sent commands up to "
            f"{twin.index}"
        )
        state = ex.state_hash()
        if child_hash is not None:  # None only when the kill fell between the commit and the PENDING line
            assert state == child_hash, f"{label}: recovered state differs from the child's at record {recovered_index}"
        assert state == twin.exchange.state_hash(), f"{label}: recovered state differs from the twin's"
        assert ex.last_sequence == twin.exchange.last_sequence
        assert list(ex.events()) == list(twin.exchange.events()), f"{label}: the event log differs from the twin's"
        ex.check_invariants()
    finally:
        ex.close()


@pytest.mark.slow
def test_a_killed_exchange_keeps_every_acknowledged_command_and_recovers_the_exact_state(store_url, tmp_path):
    rng = random.Random(SEED)
    setup = Exchange.open(
        store_url,
        clock=SimulatedClock(workload.START),
        snapshot_every=None,
        closed_orders_kept=workload.CLOSED_ORDERS_KEPT,
    )
    setup.close()
    twin = Twin()
    assert twin.index == last_index(store_url)

    for number in range(KILLS + 1):
        final = number == KILLS
        output = tmp_path / f"run{number}.out"
        before = last_index(store_url)
        child = start_child(
            store_url, rng.randrange(2**32), number, output, limit=FINAL_RUN_COMMANDS if final else None
        )
        wait_until_ready(child, output)
        if final:
            assert child.wait(60) == 0, output.with_suffix(".err").read_text()[-3000:]
        else:
            time.sleep(rng.uniform(*KILL_DELAY))
            child.send_signal(signal.SIGKILL)
            child.wait()
            assert child.returncode == -signal.SIGKILL, (  # it was still running, not dead of an error
                output.with_suffix(".err").read_text()[-3000:]
            )
        run = parse(output.read_text())
        label = f"run {number} ({'closed' if final else 'killed'} after {len(run.steps)} commands, seed {SEED})"
        assert run.ready == (twin.exchange.last_sequence, twin.exchange.state_hash()), (
            f"{label}: the child opened a state other than the one recovered before"
        )
        if final:
            assert run.done
            pending = [result[1] for _, _, result in run.steps if result and result[0] == "PENDING"]
            assert last_index(store_url) == (pending[-1] if pending else before), (
                f"{label}: close() left applied records behind"
            )
        check_recovery(store_url, run, twin, before, label)
