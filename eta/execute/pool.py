"""The executor: a pool of fork servers, fed from the main process by one thread each."""

from __future__ import annotations

import json
import os
import queue
import re
import select
import struct
import subprocess
import sys
import threading
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from eta.execute.isolation import SandboxRefused
from eta.execute.limits import Limits
from eta.execute.outcome import Outcome
from eta.execute.result import ExecutionResult, TestResult, program_outcome
from eta.tasks.schema import Task, TestCase

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60.0
# A request this small is sent while the server still runs the previous one. Bounded so that the write can
# never block: the pipe then holds at most this one request, and a server blocked writing a long reply to
# us cannot deadlock with us blocked writing a long request to it.
PIPELINE_BYTES = 16 * 1024
# Credentials of the run (a hosted model's API key, W&B's, the hub's) never reach the fork server: a
# process's initial environment stays readable in /proc/<pid>/environ whatever it unsets later.
SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS?)$|^(OPENAI|ANTHROPIC)_", re.IGNORECASE)


def server_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The fork server's environment: the harness's, less every variable that may hold a credential."""
    return {k: v for k, v in environ.items() if not SECRET_ENV.search(k)}


@dataclass(frozen=True)
class TraceOptions:
    """Tracing as an option of execution: each test's trace comes back with its verdict."""

    max_events: int = 1000
    max_value_chars: int = 80
    max_items: int = 8
    max_depth: int = 2
    core: str = "auto"
    events: bool = False  # also return the events, not only the text and the step count
    writes: bool = False  # also return each test's value writes (eta.trace.writes), what divergence reads
    budget_lines: int | None = 60  # lines of the text trace kept per test (first and last)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Job:
    program: str
    tests: Sequence[TestCase]
    setup: str = ""
    support_files: Mapping[str, str] | None = None
    key: Any = None
    # One wall-clock limit per test (eta.execute.reftimes derives them from the reference's own times);
    # None: every test gets the executor's fixed Limits.test_timeout_s.
    test_timeouts: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if not self.tests:
            raise ValueError(f"job {self.key!r} has no tests: a verdict needs at least one")
        if self.test_timeouts is not None:
            limits = self.test_timeouts
            if len(limits) != len(self.tests) or not all(isinstance(x, (int, float)) and x > 0 for x in limits):
                raise ValueError(f"job {self.key!r}: test_timeouts must be one positive number per test "
                                 f"({len(self.tests)}), got {list(limits)!r}")

    @classmethod
    def for_task(cls, task: Task, completion: str, key: Any = None,
                 test_timeouts: Sequence[float] | None = None) -> "Job":
        return cls(program=task.program(completion), tests=task.tests, setup=task.setup,
                   support_files=task.support_files, key=key if key is not None else task.task_id,
                   test_timeouts=test_timeouts)


class HarnessDied(Exception):
    pass


class _Server:
    """One fork server process and its framed pipe."""

    def __init__(self, limits: Limits) -> None:
        from eta.execute.server import ALLOW_ENV, TMPFS_ENV

        env = server_environment(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        env[TMPFS_ENV] = str(limits.tmpfs_mb)
        env[ALLOW_ENV] = ",".join(limits.allow_packages)
        self.proc = subprocess.Popen([sys.executable, "-m", "eta.execute.server"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, cwd=str(PROJECT_ROOT))

    def wait_ready(self) -> "_Server":
        """Blocks until the server has started; several servers start at once if this is called after all
        were created."""
        ready = self._read(STARTUP_TIMEOUT_S)
        if ready is not None and ready.get("type") == "refused":  # fail closed: see isolation.refusal
            self.close()
            raise SandboxRefused(ready["reason"])
        if ready is None or ready.get("type") != "ready":
            self.close()
            raise RuntimeError(f"the sandbox's fork server did not start (got {ready!r})")
        self.isolation: dict[str, Any] = ready["isolation"]
        self.layers: dict[str, str] = ready["layers"]
        return self

    def send(self, frame: bytes) -> bool:
        """Queue a framed request; False if the server is gone."""
        try:
            self.proc.stdin.write(frame)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return False
        return True

    def read(self, timeout_s: float) -> dict[str, Any] | None:
        """The next reply, or None if the server did not answer in time. Raises HarnessDied if it died."""
        return self._read(timeout_s)

    def _read(self, timeout_s: float) -> dict[str, Any] | None:
        header = self._read_exactly(4, timeout_s)
        if header is None:
            return None
        (size,) = struct.unpack(">I", header)
        body = self._read_exactly(size, timeout_s)
        if body is None:
            return None
        import json

        return json.loads(body)

    def _read_exactly(self, n: int, timeout_s: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        chunks, got = [], 0
        while got < n:
            ready, _, _ = select.select([fd], [], [], timeout_s)
            if not ready:
                return None
            data = os.read(fd, n - got)
            if not data:
                raise HarnessDied(f"fork server exited with status {self.proc.poll()}")
            chunks.append(data)
            got += len(data)
        return b"".join(chunks)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class Executor:
    """Runs jobs in `workers` fork servers. Every job gets exactly one result, in order with ``map``.

    >>> with Executor(workers=2) as ex:
    ...     results = ex.map(jobs)
    """

    def __init__(self, workers: int = 2, limits: Limits | None = None, trace: TraceOptions | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.limits = limits or Limits()
        self.trace = trace
        self._limits_dict = self.limits.to_dict()
        self._trace_dict = trace.to_dict() if trace else None
        starting = [_Server(self.limits) for _ in range(workers)]
        try:
            self._servers = [server.wait_ready() for server in starting]
        except BaseException:
            for server in starting:
                server.close()
            raise
        self.isolation = self._servers[0].isolation
        self.layers = self._servers[0].layers  # each layer "on", or "off" where the user turned it off

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sandbox_uids(self) -> list[int]:
        """The user ids the sandboxes run as (empty where the user cannot be changed)."""
        return [int(s.isolation["uid"].split("(")[1].rstrip(")")) for s in self._servers
                if s.isolation["uid"].startswith("on")]

    def close(self) -> None:
        for server in self._servers:
            server.close()

    def map(self, jobs: Iterable[Job]) -> list[ExecutionResult]:
        jobs = list(jobs)
        ordered: list[ExecutionResult | None] = [None] * len(jobs)
        for index, result in self._run(enumerate(jobs)):
            ordered[index] = result
        return ordered  # type: ignore[return-value]

    def imap_unordered(self, jobs: Iterable[Job]) -> Iterator[ExecutionResult]:
        for _, result in self._run(enumerate(jobs)):
            yield result

    def _run(self, indexed: Iterable[tuple[int, Job]]) -> Iterator[tuple[int, ExecutionResult]]:
        source, lock = iter(indexed), threading.Lock()
        results: queue.Queue = queue.Queue()

        def take() -> tuple[int, Job] | None:
            with lock:
                return next(source, None)

        def lane(slot: int) -> None:
            try:
                self._lane(slot, take, lambda index, result: results.put((index, result)))
            finally:
                results.put(None)

        threads = [threading.Thread(target=lane, args=(slot,), daemon=True) for slot in range(len(self._servers))]
        for t in threads:
            t.start()
        finished = 0
        while finished < len(threads):
            item = results.get()
            if item is None:
                finished += 1
            else:
                yield item

    def _lane(self, slot: int, take: Callable[[], tuple[int, Job] | None],
              put: Callable[[int, ExecutionResult], None]) -> None:
        """Feed one server. A small request is sent while the previous one runs, so that the server never
        waits for us between programs; replies come back in order. Every job taken gets one result."""
        pending: deque[_Request] = deque()  # sent, awaiting their replies in this order
        held: _Request | None = None  # taken, not sent yet
        broken: str | None = None  # why this lane's server cannot be restarted
        while True:
            if held is None:
                item = take()
                if item is None and not pending:
                    return
                if item is not None:
                    held = self._request(*item, put)
                    if held is None:
                        continue
            if broken is not None:
                for r in [*pending, *([held] if held else [])]:
                    put(r.index, ExecutionResult.infra_error(broken, len(r.job.tests), r.job.key))
                pending.clear()
                held = None
                continue
            try:
                if held is not None and (not pending or (len(pending) == 1 and len(held.frame) <= PIPELINE_BYTES)):
                    pending.append(held)
                    held = None
                    if not self._servers[slot].send(pending[-1].frame):
                        self._recover(slot, pending, put)
                    continue
                first = pending[0]
                try:
                    reply = self._servers[slot].read(first.patience)
                except HarnessDied:
                    self._recover(slot, pending, put)
                    continue
                pending.popleft()
                if reply is None:
                    put(first.index, ExecutionResult.infra_error("the fork server stopped answering",
                                                                 len(first.job.tests), first.job.key))
                    self._restart(slot, pending)
                    continue
                put(first.index, _to_result(reply, first.job))
            except Exception as e:  # noqa: BLE001 - the server cannot be restarted: never lose a sample
                broken = f"the sandbox's fork server is unavailable: {type(e).__name__}: {e}"

    def _request(self, index: int, job: Job, put: Callable[[int, ExecutionResult], None]) -> "_Request | None":
        request = {"program": job.program, "tests": [t.to_dict() for t in job.tests], "setup": job.setup,
                   "support_files": dict(job.support_files or {}), "limits": self._limits_dict,
                   "trace": self._trace_dict}
        if job.test_timeouts is not None:
            request["test_timeouts"] = [float(x) for x in job.test_timeouts]
        try:
            body = json.dumps(request).encode()
        except (TypeError, ValueError) as e:  # never lose a sample: it is an infra error
            put(index, ExecutionResult.infra_error(f"{type(e).__name__}: {e}", len(job.tests), job.key))
            return None
        # A server outlives any program it runs (it kills by deadline); one that does not answer is broken.
        slowest = max([self.limits.test_timeout_s, *(job.test_timeouts or ())])
        patience = self.limits.timeout_s + len(job.tests) * (slowest + 1) + 30
        return _Request(index, job, struct.pack(">I", len(body)) + body, patience)

    def _recover(self, slot: int, pending: "deque[_Request]", put: Callable[[int, ExecutionResult], None]) -> None:
        """The server died running the first pending job: run it once more in a fresh server (a second
        death is the program's doing), and resend the jobs queued behind it."""
        first = pending[0]
        first.attempts += 1
        if first.attempts >= 2:
            pending.popleft()
            put(first.index, ExecutionResult(outcome=Outcome.CRASHED, tests_total=len(first.job.tests),
                                             error_type="KilledHarness", key=first.job.key, hacks=["harness_tampering"],
                                             error_message="the program killed the process supervising it"))
        self._restart(slot, pending)

    def _restart(self, slot: int, pending: "deque[_Request]") -> None:
        self._servers[slot].close()
        self._servers[slot] = _Server(self.limits).wait_ready()
        for r in pending:
            if not self._servers[slot].send(r.frame):
                break  # died at once: the next read says so, and the first pending job takes the blame


@dataclass
class _Request:
    index: int
    job: Job
    frame: bytes
    patience: float
    attempts: int = 0


def _to_result(reply: dict[str, Any], job: Job) -> ExecutionResult:
    if "infra_error" in reply:
        return ExecutionResult.infra_error(reply["infra_error"], len(job.tests), job.key)
    tests = [TestResult.from_dict(t) for t in reply["tests"]]
    outcome, etype, message = program_outcome(tests, len(job.tests))
    return ExecutionResult(outcome=outcome, tests=tests, tests_total=len(job.tests), error_type=etype,
                           error_message=message, duration_s=reply["duration_s"], output=reply["output"],
                           output_bytes=reply["output_bytes"], key=job.key, hacks=list(reply.get("hacks") or []))


def execute(program: str, tests: Sequence[TestCase], *, setup: str = "",
            support_files: Mapping[str, str] | None = None, limits: Limits | None = None,
            trace: TraceOptions | None = None) -> ExecutionResult:
    """Run one program against its tests in a fresh sandbox (starts a one-worker pool: use an
    :class:`Executor` for many programs)."""
    with Executor(workers=1, limits=limits, trace=trace) as ex:
        return ex.map([Job(program, tests, setup, support_files)])[0]


def execute_tasks(pairs: Iterable[tuple[Task, str]], *, workers: int = 2, limits: Limits | None = None,
                  trace: TraceOptions | None = None) -> list[ExecutionResult]:
    """Run each (task, completion) against the task's tests; results in input order."""
    jobs = [Job.for_task(task, completion) for task, completion in pairs]
    with Executor(workers=workers, limits=limits, trace=trace) as ex:
        return ex.map(jobs)
