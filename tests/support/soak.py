"""What the fault soaks share (tests/soak/): `ledgerpane serve` in a real process that is killed with SIGKILL and
started again, the processes it leaves, the faults that fail a call, the plan's seed, the rounds of runs (waited
for, or cut short by a kill) and the tally of a soak."""
from __future__ import annotations

import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from server.sandbox.state import DROP_CONNECTION
from tests.support.journey import ORIGIN
from tests.support.waiting import wait_until

# CI replays one plan (it found a bug, since fixed); elsewhere each soak draws a new one. Either way it prints it.
CI_SEED = 6272
FAILING = ("429", "500", "503", "drop")  # a call that fails; "slow" only delays it
REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "tests" / "soak" / "service.py"
ANSWERED = "ledgerpane.soak.answered"  # environ key: the status the sandbox answered with
INTERRUPTED = "Interrupted"  # how a run the kill cut short begins its error once a new run supersedes it


@contextmanager
def answers_counted(sandbox_app, kind_of: Callable[[str], str | None]) -> Iterator[Counter]:
    """Counts the sandbox's answers inside the block by "<kind> <status>" ("<kind> dropped" for a connection the
    sandbox hung up on), for paths `kind_of` names a kind (e.g. "token"): what the provider saw, whichever
    process of ours asked."""
    served: Counter = Counter()
    inner = sandbox_app.wsgi_app

    def counting(environ, start_response):
        kind = kind_of(environ.get("PATH_INFO", ""))
        if kind is None:
            return inner(environ, start_response)

        def counted(status: str, headers, *rest):
            environ[ANSWERED] = status.split()[0]
            return start_response(status, headers, *rest)

        try:
            return inner(environ, counted)
        finally:
            served[f"{kind} {'dropped' if environ.get(DROP_CONNECTION) else environ.get(ANSWERED)}"] += 1

    sandbox_app.wsgi_app = counting
    try:
        yield served
    finally:
        sandbox_app.wsgi_app = inner


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


def soak_service(db, var_dir: Path, provider_url: str, headers: dict[str, str], workers: int,
                 **settings: str) -> Service:
    """`ledgerpane serve` (not started yet) sharing the test's database and vault (`var_dir`) and reading the
    sandbox at `provider_url` with its rate windows shrunk as the sandbox's are; no scheduler, so runs start only
    when pressed. `workers`: one per connection, so a pressed run starts at once and a kill meets it running.
    `settings`: more of the service's variables (LEDGERPANE_...)."""
    env = {**os.environ, "DATABASE_URL": db.url, "LEDGERPANE_VAR_DIR": str(var_dir), "LEDGERPANE_SANDBOX": "false",
           "LEDGERPANE_SANDBOX_URL": provider_url, "LEDGERPANE_PUBLIC_URL": ORIGIN, "LEDGERPANE_SCHEDULER": "off",
           "LEDGERPANE_SANDBOX_RATE_SCALE": str(1 / 60), "LEDGERPANE_REFRESH_BATCH_ROWS": "50",
           "LEDGERPANE_REFRESH_WORKERS": str(workers), "LEDGERPANE_LOG_LEVEL": "WARNING", **settings}
    logs = var_dir / "service-logs"
    logs.mkdir()
    return Service(env, logs, headers)


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

    def figures(self, heading: str, *more: str) -> str:
        """What the soak did and found, for the `figures` fixture: the heading, `more` lines, then the tally."""
        return "\n".join([
            heading, *(f"  {line}" for line in more),
            f"  faults: {dict(sorted(self.faults.items()))}",
            f"  outcomes: {dict(sorted(self.outcomes.items()))}",
            f"  seconds in: {', '.join(f'{k} {v:.0f}' for k, v in sorted(self.seconds.items()))}",
            f"  mismatches: {len(self.mismatches)}",
            *(f"    {text}" for text in self.mismatches[:20])])


class Rounds:
    """A soak's rounds of runs on its service: play pressed on each connection, then every run waited for, or
    the service killed with SIGKILL at a random moment of the round and started again. Runs a kill cut short
    are followed until a later run supersedes them."""

    # The soak's faults never fail a run (fewer in a row than the client's attempts): a run the kill spared must
    # succeed, one it cut short end as interrupted.
    faults_never_fail_a_run = False

    def __init__(self, service: Service, rng: random.Random) -> None:
        self.service, self.rng = service, rng
        self.tally = Tally()
        self.durations: list[float] = []  # of rounds waited for: how long a round usually lasts
        self.killed_runs: list[int] = []  # runs the last kill may have cut short: checked once superseded

    def kill_window(self) -> float:
        """Seconds within which a kill lands: a little longer than recent rounds took, so most kills meet a
        run going and some meet the service idle."""
        return 1.2 * statistics.median(self.durations[-10:]) if self.durations else 1.0

    def play(self, connection_ids: list[int], kill_after: float | None = None,
             timed: bool = True) -> dict[int, dict] | None:
        """Press play on each connection; wait for every run to end and return them by connection, or, with
        `kill_after`, kill the service that many seconds after pressing, start it again and return None.
        `timed`: the round counts towards the kill window (a first load, far longer, does not)."""
        started = time.monotonic()
        runs = {connection_id: self.press(connection_id) for connection_id in connection_ids}
        if kill_after is not None:
            time.sleep(kill_after)  # not a wait for something: the random moment the process dies
            self.tally.seconds["runs"] += time.monotonic() - started
            self.kill_and_restart(list(runs.values()))
            return None
        ended = {connection_id: self.service.wait_for_run(run_id) for connection_id, run_id in runs.items()}
        if timed:
            self.durations.append(time.monotonic() - started)
        self.tally.seconds["runs"] += time.monotonic() - started
        return ended

    def press(self, connection_id: int) -> int:
        answer = self.service.press_play(connection_id)
        if answer.get("created") is False and answer.get("run_id") in self.killed_runs:
            # The kill left it queued and the restarted service took it up (runs left queued are handed over again
            # at start): it ends, then this press starts the round's run.
            self.service.wait_for_run(answer["run_id"])
            answer = self.service.press_play(connection_id)
        if answer["status_code"] != 202 or not answer["created"]:
            pytest.fail(f"connection {connection_id} could not start a run: {answer} "
                        f"(runs the last kill cut short: {[self.service.run(r) for r in self.killed_runs]})")
        self.tally.runs += 1
        self.check_superseded()
        return answer["run_id"]

    def kill_and_restart(self, run_ids: list[int]) -> None:
        started = time.monotonic()
        going = [r for r in run_ids if self.service.run(r)["status"] in ("queued", "running")]
        helpers = self.service.kill()
        self.tally.kills += 1
        self.tally.kills_mid_run += bool(going)
        self.killed_runs = run_ids
        wait_until(lambda: not [pid for pid in helpers if alive(pid)], 30,
                   lambda: f"processes of the killed service still alive: {[p for p in helpers if alive(p)]}")
        self.service.start()
        self.tally.restarts += 1
        self.tally.seconds["kills and restarts"] += time.monotonic() - started

    def check_superseded(self) -> None:
        """Runs a kill cut short end as interrupted once a new run supersedes them (the request that created it)."""
        still = []
        for run_id in self.killed_runs:
            run = self.service.run(run_id)
            if run["status"] in ("queued", "running"):
                still.append(run_id)  # its connection's next run has not been asked for yet
            elif run["status"] == "failed" and (run.get("error") or "").startswith(INTERRUPTED):
                self.tally.outcomes["interrupted by a kill"] += 1
            else:
                self.tally.outcomes[run["status"]] += 1
                if self.faults_never_fail_a_run and run["status"] != "succeeded":
                    self.tally.mismatch(f"run {run_id}, which a kill met, ended {run['status']}: {run.get('error')}")
        self.killed_runs = still

    def check_none_left_going(self) -> None:
        """At the end, once every connection ran again: no run a kill cut short may still be going."""
        for run_id in self.killed_runs:
            self.tally.mismatch(f"run {run_id}, cut short by a kill, is still {self.service.run(run_id)['status']}")
