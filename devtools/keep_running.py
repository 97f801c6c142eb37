"""Keep one process of the default run running: ``python -m devtools.keep_running NAME -- CMD…``.

honcho (``make run``) stops every process as soon as one exits. Each line of ``Procfile.dev``
therefore runs its command under this wrapper, which honcho sees as the process: when the command
exits on its own, the wrapper prints one line saying which process died, how and how it will be
restarted, waits (1, 2, 4 … up to 30 s; back to 1 s once a run has lasted a minute) and starts it
again, while the other processes go on serving. A command that keeps dying within seconds of its
start (a port in use, a bad setting) is given up after ``GIVE_UP_AFTER`` tries in a row: the
wrapper says so, with the command to run by hand and the signal that makes it try again
(``kill -HUP <pid>``), and waits without stopping the others.

SIGTERM or SIGINT (honcho's Ctrl-C) stop the command (SIGTERM, then SIGKILL after
``STOP_TIMEOUT`` seconds) and the wrapper, without a restart. Development only.
"""

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

FIRST_DELAY = 1.0  # seconds before the first restart
MAX_DELAY = 30.0  # the longest wait between restarts
HEALTHY_AFTER = 60.0  # a run this long resets the delay and the count of quick deaths
QUICK_DEATH = 10.0  # a run shorter than this counts towards giving up
GIVE_UP_AFTER = 5  # quick deaths in a row before the wrapper stops restarting
STOP_TIMEOUT = 20.0  # seconds between SIGTERM and SIGKILL when stopping


def describe_exit(returncode: int) -> str:
    """``-9`` → ``"killed by SIGKILL"``, ``3`` → ``"exited with status 3"`` (Popen's codes)."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with status {returncode}"


@dataclass
class Backoff:
    """How long to wait before the next restart, and when to give up.

    ``record(seconds_it_ran)`` returns the delay before the next start, or None to give up:
    delays double from ``first`` up to ``maximum``; a run of ``healthy_after`` seconds or more
    starts over from ``first``; ``give_up_after`` runs in a row shorter than ``quick`` give up.
    """

    first: float = FIRST_DELAY
    maximum: float = MAX_DELAY
    healthy_after: float = HEALTHY_AFTER
    quick: float = QUICK_DEATH
    give_up_after: int = GIVE_UP_AFTER
    delay: float = field(default=0.0, init=False)
    quick_deaths: int = field(default=0, init=False)

    def record(self, seconds_it_ran: float) -> float | None:
        """The wait in seconds before restarting a command that ran ``seconds_it_ran``."""
        if seconds_it_ran >= self.healthy_after:
            self.delay, self.quick_deaths = 0.0, 0
        self.quick_deaths = self.quick_deaths + 1 if seconds_it_ran < self.quick else 0
        if self.quick_deaths >= self.give_up_after:
            return None
        self.delay = self.first if self.delay == 0 else min(self.delay * 2, self.maximum)
        return self.delay

    def reset(self) -> None:
        """Start over (after a restart asked for by hand)."""
        self.delay, self.quick_deaths = 0.0, 0


class Keeper:
    """Runs ``command`` under the name ``name`` until told to stop; see the module docstring.

    Args:
        name: the Procfile name (``web``, ``worker``, ``stripe``), used in every message.
        command: the program and its arguments (no shell).
        backoff: the restart policy.
        say: where messages go (one line each; default: stderr, flushed).
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        backoff: Backoff | None = None,
        say: Callable[[str], None] | None = None,
    ):
        self.name = name
        self.command = list(command)
        self.backoff = backoff or Backoff()
        self.say = say or _stderr
        self.child: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._wake = threading.Event()

    @property
    def command_line(self) -> str:
        """The command as one might type it in a shell."""
        return shlex.join(self.command)

    def stop(self) -> None:
        """Stop the command and return from ``run`` (safe from a signal handler)."""
        self._stopping.set()
        self._wake.set()
        child = self.child
        if child is not None and child.poll() is None:
            try:
                child.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wake(self) -> None:
        """Restart now: skip the wait, or try again after giving up (SIGHUP)."""
        self.backoff.reset()
        self._wake.set()

    def run(self) -> int:
        """Start the command and restart it as it dies, until ``stop``; returns 0."""
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.child = subprocess.Popen(self.command)  # noqa: S603 -- the Procfile's command
                if self.restarts:
                    self.say(f"{self.name} restarted (pid {self.child.pid})")
                else:
                    self.say(f"{self.name} started (pid {self.child.pid}); restarted if it dies")
            except OSError as error:
                self.say(f"{self.name}: cannot start `{self.command_line}`: {error}")
                returncode = 127
            else:
                returncode = self._wait_for_child()
            if self._stopping.is_set():
                break
            ran = time.monotonic() - started
            delay = self.backoff.record(ran)
            self.restarts += 1
            how = describe_exit(returncode)
            if delay is None:
                self.say(
                    f"{self.name} {how} after {ran:.1f} s, {self.backoff.give_up_after} times in "
                    f"a row within {self.backoff.quick:g} s of starting: NOT restarting it. "
                    "The other processes keep running. Fix the error above, then restart it "
                    f"with `kill -HUP {os.getpid()}` (or run `{self.command_line}` yourself)."
                )
                self._wake.clear()
                self._wake.wait()
            else:
                self.say(
                    f"{self.name} {how} after {ran:.1f} s; restarting it in {delay:g} s "
                    f"(restart {self.restarts}). The other processes keep running."
                )
                self._wake.clear()
                self._wake.wait(delay)
        return 0

    def _wait_for_child(self) -> int:
        assert self.child is not None
        while True:
            try:
                returncode = self.child.wait(0.5)
                break
            except subprocess.TimeoutExpired:
                if self._stopping.is_set():
                    try:
                        returncode = self.child.wait(STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        self.say(f"{self.name}: did not stop within {STOP_TIMEOUT:g} s; killing it")
                        self.child.kill()
                        returncode = self.child.wait()
                    break
        return returncode


def _stderr(line: str) -> None:
    print(f"keep_running: {line}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``NAME -- COMMAND…``, install the signal handlers and run the keeper."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.keep_running",
        description="Run a command and restart it when it dies (the default run's processes).",
    )
    parser.add_argument("name", help="the process's name in messages, e.g. web")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    keeper = Keeper(args.name, command)
    signal.signal(signal.SIGTERM, lambda *_: keeper.stop())
    signal.signal(signal.SIGINT, lambda *_: keeper.stop())
    signal.signal(signal.SIGHUP, lambda *_: keeper.wake())
    return keeper.run()


if __name__ == "__main__":
    sys.exit(main())
