"""What the fault soaks share (tests/soak/): `ledgerpane serve` in a real process that is killed with SIGKILL and
started again, the processes it leaves, the faults that fail a call, the plan's seed and the tally of a soak."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support.waiting import wait_until

# CI replays one plan (it found a bug, since fixed); elsewhere each soak draws a new one. Either way it prints it.
CI_SEED = 6272
FAILING = ("429", "500", "503", "drop")  # a call that fails; "slow" only delays it
REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "tests" / "soak" / "service.py"


def plan_seed() -> int:
    """LEDGERPANE_SOAK_SEED if set (a plan replayed), CI's fixed plan on CI, a new one otherwise."""
    return int(os.environ.get("LEDGERPANE_SOAK_SEED")
               or (CI_SEED if os.environ.get("CI") == "true" else random.SystemRandom().randrange(10**6)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (reader helpers and their fork server), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


class Service:
    """`ledgerpane serve` in a real process, killed with SIGKILL and started again. A warm one stands by (imports
    done) so that fifty restarts do not cost fifty interpreter starts on a shared CPU."""

    def __init__(self, env: dict[str, str], logs: Path, headers: dict[str, str]) -> None:
        self.env, self.logs, self.headers = env, logs, headers
        self.http = requests.Session()
        self.starts = 0
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.standby = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        log = (self.logs / f"service-{self.starts + 1}.log").open("w")
        return subprocess.Popen([sys.executable, str(RUNNER)], stdin=subprocess.PIPE, stdout=log,
                                stderr=subprocess.STDOUT, text=True, env=self.env, cwd=REPO)

    def start(self) -> None:
        port = free_port()
        self.process, self.standby = self.standby, None
        self.process.stdin.write(f"{port}\n")
        self.process.stdin.flush()
        self.url = f"http://127.0.0.1:{port}"
        self.starts += 1
        wait_until(self._answers, 120, lambda: f"service start {self.starts} never answered: {self.log_tail()}",
                   interval=0.05)
        self.standby = self._spawn()

    def _answers(self) -> bool:
        assert self.process.poll() is None, f"the service exited: {self.log_tail()}"
        try:
            return self.http.get(f"{self.url}/api/v1/workspace", headers=self.headers, timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def kill(self) -> list[int]:
        """SIGKILL, as the OOM killer or a lost machine does it; returns the processes it had started."""
        below = descendants(self.process.pid)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        return below

    def last_error(self) -> str:
        """Where the service's log says it failed last: the end of its last traceback."""
        text = (self.logs / f"service-{self.starts}.log").read_text()
        if "Traceback" not in text:
            return ""
        lines = text.rpartition("Traceback")[2].strip().splitlines()
        return f"; the service's log: {' / '.join(line.strip() for line in lines[-3:])}"

    def log_tail(self) -> str:
        return (self.logs / f"service-{self.starts}.log").read_text()[-3000:]

    def press_play(self, connection_id: int) -> dict:
        answer = self.http.post(f"{self.url}/api/v1/connections/{connection_id}/refresh", json={},
                                headers=self.headers, timeout=30)
        return {"status_code": answer.status_code, **answer.json()}

    def run(self, run_id: int) -> dict:
        return self.http.get(f"{self.url}/api/v1/runs/{run_id}", headers=self.headers, timeout=30).json()

    def wait_for_run(self, run_id: int) -> dict:
        seen: dict = {}

        def ended() -> dict | None:
            seen.update(self.run(run_id))
            return dict(seen) if seen["status"] not in ("queued", "running") else None

        return wait_until(ended, 180, lambda: f"run {run_id} still {seen.get('status')}", interval=0.05)

    def stop(self) -> None:
        for process in (self.process, self.standby):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        self.http.close()


@dataclass
class Tally:
    runs: int = 0
    kills: int = 0
    kills_mid_run: int = 0
    restarts: int = 0
    reconnects: int = 0
    faults: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)  # where the soak's time went
    outcomes: Counter = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)

    def mismatch(self, text: str) -> None:
        self.mismatches.append(text)
