"""``devtools.keep_running``: a process of the default run that dies is restarted with backoff and
named, the others keep serving, a stop is a stop.

Real processes (small Python commands) and, at the end, honcho with a two-line Procfile as
``make run`` starts it. No database.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devtools.keep_running import Backoff, Keeper, describe_exit
from tests.conftest import REPO

PYTHON = sys.executable


def wait_for(predicate, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout} s")


def start(keeper: Keeper) -> threading.Thread:
    thread = threading.Thread(target=keeper.run, daemon=True)
    thread.start()
    return thread


def quick_backoff(**overrides: float) -> Backoff:
    values = {"first": 0.05, "maximum": 0.2, "healthy_after": 30, "quick": 5, "give_up_after": 4}
    values.update(overrides)
    return Backoff(**values)  # type: ignore[arg-type]


def test_backoff_doubles_up_to_the_maximum_starts_over_after_a_healthy_run_and_gives_up():
    backoff = Backoff(first=1, maximum=30, healthy_after=60, quick=10, give_up_after=5)

    assert [backoff.record(20) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.record(61) == 1  # a long run: back to the first delay

    quick = [backoff.record(0.5) for _ in range(5)]
    assert quick[:4] == [2, 4, 8, 16] and quick[4] is None  # fifth quick death in a row
    backoff.reset()
    assert backoff.record(0.5) == 1


@pytest.mark.parametrize(
    ("code", "text"),
    [(3, "exited with status 3"), (0, "exited with status 0"), (-9, "killed by SIGKILL")],
)
def test_exits_are_described_as_a_person_reads_them(code, text):
    assert describe_exit(code) == text


def test_a_command_that_dies_is_named_and_restarted(tmp_path):
    starts = tmp_path / "starts"
    command = [PYTHON, "-c", f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"]
    said: list[str] = []
    keeper = Keeper("worker", command, quick_backoff(give_up_after=100), said.append)

    thread = start(keeper)
    wait_for(lambda: starts.exists() and len(starts.read_text()) >= 3)
    keeper.stop()
    thread.join(10)

    assert not thread.is_alive()
    deaths = [line for line in said if "exited with status 3" in line]
    assert len(deaths) >= 2
    assert deaths[0].startswith("worker exited with status 3 after ")
    assert "restarting it in 0.05 s (restart 1). The other processes keep running." in deaths[0]
    assert said[0].startswith("worker started (pid ")
    assert said[2].startswith("worker restarted (pid ")


def test_a_command_that_keeps_dying_at_start_is_given_up_with_how_to_restart_it(tmp_path):
    starts = tmp_path / "starts"
    command = [PYTHON, "-c", f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(2)"]
    said: list[str] = []
    keeper = Keeper("web", command, quick_backoff(give_up_after=3), said.append)

    thread = start(keeper)
    gave_up = wait_for(lambda: [line for line in said if "NOT restarting" in line])
    time.sleep(0.5)
    assert len(starts.read_text()) == 3  # no fourth start while given up
    assert "3 times in a row within 5 s of starting" in gave_up[0]
    assert f"kill -HUP {os.getpid()}" in gave_up[0]
    assert "raise SystemExit(2)" in gave_up[0]  # the command to run by hand

    keeper.wake()  # what SIGHUP does
    wait_for(lambda: len(starts.read_text()) >= 4)
    keeper.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_a_stop_ends_the_command_and_restarts_nothing(tmp_path):
    pid_file = tmp_path / "pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    said: list[str] = []
    keeper = Keeper("stripe", [PYTHON, "-c", code], quick_backoff(), said.append)

    thread = start(keeper)
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text()))
    keeper.stop()
    thread.join(10)

    assert not thread.is_alive()
    assert keeper.child is not None and keeper.child.returncode == -signal.SIGTERM
    assert said == [f"stripe started (pid {pid}); restarted if it dies"]  # no death, no restart
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_under_honcho_one_process_dies_and_is_restarted_while_the_other_keeps_running(tmp_path):
    steady_pids = tmp_path / "steady"
    procfile = tmp_path / "Procfile"
    wrapper = f"{PYTHON} -m devtools.keep_running"
    steady = f"import os, time; open({str(steady_pids)!r}, 'a').write(f'{{os.getpid()}} '); time.sleep(60)"  # noqa: E501
    procfile.write_text(
        f'flaky: {wrapper} flaky -- {PYTHON} -c "import time; time.sleep(0.3); raise SystemExit(3)"\n'  # noqa: E501
        f'steady: {wrapper} steady -- {PYTHON} -c "{steady}"\n'
    )
    honcho = subprocess.Popen(  # noqa: S603
        [str(Path(PYTHON).parent / "honcho"), "--procfile", str(procfile), "--app-root", str(REPO),
         "--no-colour", "start"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(4.5)  # flaky: runs 0.3 s, waits 1 s, runs 0.3 s, waits 2 s, starts again
        assert honcho.poll() is None  # honcho did not stop the run
        assert len(steady_pids.read_text().split()) == 1  # started once, never restarted
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        output, _ = honcho.communicate(timeout=30)

    restarts = [line for line in output.splitlines() if "flaky exited with status 3" in line]
    assert len(restarts) >= 2, output
    assert "restarting it in 1 s (restart 1)" in restarts[0]
    assert "restarting it in 2 s (restart 2)" in restarts[1]
    assert "steady exited" not in output
