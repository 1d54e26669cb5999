"""The zygote: a lean process, forked once from the fork server, that forks one sandboxed child per program.

Why a separate process: after a ``fork`` every page of the forking process is shared copy-on-write, so the
next page it writes costs a fault and a copy. The supervisor's bookkeeping (job and report parsing,
deadlines, output) wrote some 380 pages per program that way, over half as many as the child did. The
zygote does nothing between forks but read a one-byte command, fork, wait and write two numbers, so it
touches a few pages; the supervisor never forks and never faults. The zygote is forked before the
supervisor's own modules are imported, which also keeps the image that every child maps (and unmaps at
exit) small.

Protocol, on two pipes: the supervisor writes the job into the shared job area and sends ``F`` (``T`` for a
traced job); the zygote forks, writes the child's pid, waits for it, kills whatever it left behind, and
writes its wait status. The child reads its job from the job area, isolates itself (chroot into the
candidate's view of the filesystem, user, limits) and runs the harness. The zygote itself stays outside the
view, so that it can still import the tracer on the first traced job.
"""

from __future__ import annotations

import json
import marshal
import mmap
import os
import signal
import struct
import sys
import time
from typing import Any, NoReturn

from eta.execute import isolation
from eta.execute.child import Harness, Reporter

EXIT_CHANNEL_LOST, EXIT_ISOLATION_FAILED, EXIT_HARNESS_DISRUPTED = 70, 71, 72
PID = struct.Struct("<i")
STATUS = struct.Struct("<i")
JOB_LEN = struct.Struct("<Q")  # the job area: a length and the job as JSON, a length and its code (marshal)
FORK, FORK_TRACED = b"F", b"T"
ISOLATED = b"I"  # the first byte a child writes into its result pipe, once its sandbox is up


class Zygote:
    """The server's handle on its zygote: the command pipes, the shared areas and the children's pipes."""

    def __init__(self, plan: isolation.Plan, job_bytes: int = 64 << 20, report_bytes: int = 4 << 20) -> None:
        # Shared and anonymous: written by one side, read by the other, no copy through a pipe. Pages
        # are only allocated when written, so the generous job area costs what the largest job used.
        self.jobs, self.report = mmap.mmap(-1, job_bytes), mmap.mmap(-1, report_bytes)
        cmd_r, self.cmd_w = os.pipe()
        self.status_r, status_w = os.pipe()
        self.out_r, out_w = os.pipe()  # the children's stdout and stderr
        self.res_r, res_w = os.pipe()  # the children's report frames when the shared area is full
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover
            serve(plan, self.jobs, self.report, cmd_r, status_w, out_w, res_w)
        for fd in (cmd_r, status_w, out_w, res_w):
            os.close(fd)
        os.set_blocking(self.out_r, False)
        os.set_blocking(self.res_r, False)


def serve(plan: isolation.Plan, jobs: mmap.mmap, report: mmap.mmap, cmd_r: int, status_w: int, out_w: int,
          res_w: int) -> NoReturn:  # pragma: no cover - runs in the zygote
    """The zygote's loop; returns never. Exits when the supervisor closes the command pipe or dies."""
    keep = sorted({cmd_r, status_w, out_w, res_w})
    for low, high in zip([3] + [fd + 1 for fd in keep], keep + [65536]):
        os.closerange(low, high)  # the executor's channel included: the server's death must reach it as EOF
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    isolation.parent_death_signal()
    isolation.become_subreaper()  # a candidate's orphans come to us, to be killed before the next program
    # What every child would otherwise redo: its signal dispositions and a clean environment.
    isolation.after_fork_common()
    os.environ.clear()
    os.environ.update(PATH="/usr/bin:/bin", LANG="C.UTF-8")
    traced_ready = False
    host_finders = sys.path_importer_cache  # kept alive here: see _child_main
    while True:
        try:
            command = os.read(cmd_r, 1)
        except OSError:
            command = b""
        if command not in (FORK, FORK_TRACED):
            os._exit(0)
        if command == FORK_TRACED and not traced_ready:
            import eta.trace  # noqa: F401 - once, on the first traced job: untraced children stay small
            import eta.trace.writes  # noqa: F401 - the value writes divergence reads, if asked
            traced_ready = True
        try:
            pid = os.fork()
        except OSError:  # out of processes or memory: the harness's failure, not the program's
            os.write(status_w, PID.pack(-1))
            continue
        if pid == 0:
            _child_main(plan, jobs, report, out_w, res_w)
        os.write(status_w, PID.pack(pid))
        status = os.waitpid(pid, 0)[1]
        _kill_leftovers(pid, plan.uid)
        os.write(status_w, STATUS.pack(status))


def write_job(jobs: mmap.mmap, job: dict[str, Any], codes: tuple[Any, Any, Any] | None) -> None:
    """Put a job and the code the supervisor compiled for it (or None) into the job area."""
    body, code = json.dumps(job).encode(), marshal.dumps(codes)
    size = 2 * JOB_LEN.size + len(body) + len(code)
    if size > len(jobs):
        raise ValueError(f"job of {size} bytes does not fit the {len(jobs)}-byte job area")
    jobs[:size] = JOB_LEN.pack(len(body)) + body + JOB_LEN.pack(len(code)) + code


def read_job(jobs: mmap.mmap) -> tuple[dict[str, Any], tuple[Any, Any, Any] | None]:
    (size,) = JOB_LEN.unpack_from(jobs, 0)
    at = JOB_LEN.size + size
    job = json.loads(jobs[JOB_LEN.size:at])
    (code_size,) = JOB_LEN.unpack_from(jobs, at)
    # Code objects, not source: loading them costs a fraction of compiling, and a test compiled once per
    # task serves every sample of it. Same interpreter on both sides, so the format always matches.
    codes = marshal.loads(jobs[at + JOB_LEN.size:at + JOB_LEN.size + code_size])
    return job, codes


def _child_main(plan: isolation.Plan, jobs: mmap.mmap, report: mmap.mmap, out_w: int,
                res_w: int) -> NoReturn:  # pragma: no cover - in the child
    try:
        job, codes = read_job(jobs)
        jobs.close()  # neither the candidate's to read nor counted against its address space
        os.setsid()
        if plan.view is not None:
            isolation.enter_view()  # first: every path below is the view's
        workdir = job["workdir"]
        os.mkdir(workdir, 0o700)
        for name, text in (job.get("support_files") or {}).items():
            with open(os.path.join(workdir, os.path.basename(name)), "w") as f:
                f.write(text)
        os.chdir(workdir)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.dup2(res_w, 3)
        os.closerange(4, 65536)  # the zygote's command pipes included: nothing to write into
        isolation.set_rlimits(job["rlimits"])
        if plan.uid is not None:
            isolation.drop_privileges(plan.uid, workdir)
        else:  # with or without the view: a root without its capabilities cannot reach what it does not own
            isolation.drop_capabilities()
        isolation.no_new_privs_and_parent_death()
        os.environ.update(HOME=workdir, TMPDIR=workdir)
        if plan.view is not None:
            # Only the view's folders: the project's and other packages' are not there, and the finders
            # cached for them (with their listings of the host's folders) are set aside. Not cleared: freeing
            # them would write to every page they sit on, a copy per page, close to a millisecond a program.
            sys.path[:] = [workdir, *plan.view.sys_path]
            sys.path_importer_cache = {}
        else:
            sys.path.insert(0, workdir)
        sys.argv = ["<candidate>"]
        # The boundary of trust, told on a channel the candidate cannot take back (it holds no read end of
        # the pipe): before this byte any end is the harness's failure, after it every end is the program's.
        os.write(3, ISOLATED)
    except BaseException:  # noqa: BLE001
        os._exit(EXIT_ISOLATION_FAILED)
    try:
        Harness(job, Reporter(report, 3, job["token"]), codes).run(job["start"])
    except BaseException:  # noqa: BLE001 - the program broke its harness (monkeypatching, say): its fault
        pass
    os._exit(EXIT_HARNESS_DISRUPTED)


def _kill_leftovers(pid: int, uid: int | None) -> None:
    """Nothing the candidate started survives: its group, then every process of the sandbox user."""
    kill_group(pid)
    if not _has_children():
        return  # as a subreaper we inherit every orphan: none means nothing of the program is left
    if uid is not None:
        reaper = os.fork()
        if reaper == 0:  # pragma: no cover
            try:
                os.setuid(uid)
                for _ in range(100):  # again and again: a fork bomb forks while we kill
                    os.kill(-1, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            os._exit(0)
        os.waitpid(reaper, 0)
    else:
        for _ in range(3):
            for child in _children():
                kill_group(child)
    _reap_zombies()


def kill_group(pid: int) -> None:
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _has_children() -> bool:
    """Whether any child is left, reaping the ones that are already dead."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _children() -> list[int]:
    found = []
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children") as f:
                found += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return found


def _reap_zombies(patience_s: float = 2.0) -> None:
    """Wait for every killed descendant to be gone: a zombie still counts against the sandbox user's
    process limit, and a later program would inherit that count."""
    deadline = time.monotonic() + patience_s
    while _has_children():
        if time.monotonic() > deadline:
            return
        for child in _children():
            kill_group(child)
        time.sleep(0.001)
