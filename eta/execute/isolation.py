"""What a sandboxed child does to itself between fork and the candidate's first line.

Layers, each used where the kernel and our privileges allow, each with the reason when it is not (like
coverage.py's tracer fallback): a dedicated user id (files of the host and the supervisor become
untouchable, and every process of the sandbox can be killed at once), a network namespace (no network),
a mount namespace (a private /tmp, and directories such as a 0700 home hidden, keeping only the Python
installation visible), and resource limits (always).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from typing import Any, Iterable

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 38, 36
SANDBOX_UID_BASE = 200_000  # + the supervisor's pid: unique among live supervisors, so kill(-1) is ours alone

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(OSError):
    pass


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise IsolationError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


class Plan:
    """What the supervisor found it may do; decided once at its start by a probe child.

    A plain class, not a dataclass: ``dataclasses`` pulls in ``inspect``, close to a megabyte that every
    forked child would map and tear down again.
    """

    def __init__(self, uid: int | None = None, netns: bool = False, mountns: bool = False,
                 hide: dict[str, list[str]] | None = None) -> None:
        self.uid = uid  # the sandbox's user id, or None when we cannot change user
        self.netns, self.mountns = netns, mountns
        self.reasons: dict[str, str] = {}  # layer -> why it is off
        self.hide = hide or {}  # mount point -> paths under it to keep visible

    def describe(self) -> dict[str, str]:
        return {"uid": f"on ({self.uid})" if self.uid is not None else f"off: {self.reasons.get('uid')}",
                "network": "isolated" if self.netns else f"open: {self.reasons.get('netns')}",
                "filesystem": "private /tmp, home hidden" if self.mountns else f"shared: {self.reasons.get('mountns')}",
                "rlimits": "on"}


def _not_traversable_by_others(path: str) -> bool:
    try:
        return not (os.stat(path).st_mode & 0o001)
    except OSError:
        return False


def _keep_paths() -> list[str]:
    """The paths a sandboxed Python needs to import modules after its user id is dropped."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, here}
    paths.update(p for p in sys.path if p and os.path.isabs(p))
    return sorted(p for p in paths if os.path.exists(p))


def hide_plan(tmp: str = "/tmp") -> dict[str, list[str]]:
    """Mount points to cover with an empty tmpfs, with the paths under them to bind back.

    /tmp is covered so that the sandbox's scratch space is private; an ancestor of a needed path that others
    may not traverse (e.g. /root, 0700) is covered so that the sandbox user can reach the interpreter
    without seeing anything else in it.
    """
    keep = _keep_paths()
    plan: dict[str, list[str]] = {tmp: []}
    for path in keep:
        parts = path.split(os.sep)
        for depth in range(2, len(parts)):
            ancestor = os.sep.join(parts[:depth])
            if _not_traversable_by_others(ancestor):
                plan.setdefault(ancestor, [])
                break
    outermost = [p for p in keep if not any(p.startswith(q.rstrip(os.sep) + os.sep) for q in keep if q != p)]
    for mount_point in plan:
        prefix = mount_point.rstrip(os.sep) + os.sep
        plan[mount_point] = [p for p in outermost if p.startswith(prefix)]
    return plan


def enter_namespaces(plan: Plan, tmpfs_mb: int) -> None:
    """Unshare the network and mounts for the whole fork server, once: every child inherits them.

    Doing this per program would cost more than everything else in a program's life (a network namespace
    alone takes about 5 ms to create and tear down here). What stays per program is its own working
    directory and user, and /tmp is emptied after each program (see :func:`clear_private_tmp`).
    """
    flags = (CLONE_NEWNS if plan.mountns else 0) | (CLONE_NEWNET if plan.netns else 0)
    if not flags:
        return
    _check(_libc.unshare(flags), "unshare")
    if not plan.mountns:
        return
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    # Opened inside the new namespace: a bind mount's source must belong to the caller's namespace.
    kept = {p: os.open(p, os.O_PATH) for paths in plan.hide.values() for p in paths}
    for mount_point, paths in plan.hide.items():
        _mount("tmpfs", mount_point, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmpfs_mb}m,mode=1777")
        for path in paths:
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{kept[path]}", path, None, MS_BIND | MS_REC)
    for fd in kept.values():
        os.close(fd)


def clear_private_tmp(keep: Iterable[str] = ()) -> None:
    """Empty the server's private /tmp after a program, so nothing passes from one program to the next."""
    keep_top = {p.split(os.sep)[2] for p in keep if p.startswith("/tmp/") and len(p.split(os.sep)) > 2}
    for name in os.listdir("/tmp"):
        if name in keep_top:
            continue
        path = os.path.join("/tmp", name)
        try:
            os.rmdir(path)  # the usual case, an empty working directory, without rmtree's walk
            continue
        except OSError:
            pass
        if os.path.isdir(path) and not os.path.islink(path):
            import shutil  # here, not at the top: the fork server's children never need it

            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def rlimits(limits: Any, *, with_nproc: bool) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for a :class:`~eta.execute.limits.Limits`, computed by the supervisor and
    applied by the child with :func:`set_rlimits`."""
    mb = 1024 * 1024
    found = [(resource.RLIMIT_AS, limits.memory_mb * mb, limits.memory_mb * mb),
             (resource.RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 1),
             (resource.RLIMIT_FSIZE, limits.file_size_mb * mb, limits.file_size_mb * mb),
             (resource.RLIMIT_CORE, 0, 0)]
    if with_nproc:  # counted per user: only meaningful for our own sandbox uid
        found.append((resource.RLIMIT_NPROC, limits.max_processes, limits.max_processes))
    return [(int(which), int(soft), int(hard)) for which, soft, hard in found]


def set_rlimits(found: Iterable[tuple[int, int, int]]) -> None:
    for which, soft, hard in found:
        resource.setrlimit(which, (soft, hard))


def drop_privileges(uid: int, workdir: str) -> None:
    os.chown(workdir, uid, uid)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def after_fork_common() -> None:
    """Signal dispositions a fresh program expects, whatever the supervisor had."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write raises OSError instead of killing


def no_new_privs_and_parent_death() -> None:
    # After setuid: a changed user id clears the parent-death signal.
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def parent_death_signal() -> None:
    """Die with the parent: a zygote must not outlive the server that feeds it."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def become_subreaper() -> bool:
    return _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def probe(tmpfs_mb: int = 64) -> Plan:
    """Find out, in a throwaway child, which layers this machine lets us use."""
    plan = Plan(hide=hide_plan())
    disabled = {x.strip() for x in os.environ.get("ETA_SANDBOX_DISABLE", "").split(",") if x.strip()}
    if "uid" in disabled:
        plan.reasons["uid"] = "disabled by ETA_SANDBOX_DISABLE"
    elif os.geteuid() == 0:
        plan.uid = SANDBOX_UID_BASE + os.getpid()
    else:
        plan.reasons["uid"] = "not running as root: cannot switch to a sandbox user"
    for layer, flags in (("netns", CLONE_NEWNET), ("mountns", CLONE_NEWNS)):
        if layer in disabled:
            plan.reasons[layer] = "disabled by ETA_SANDBOX_DISABLE"
            continue
        ok, why = _try_in_child(layer, flags, plan, tmpfs_mb)
        setattr(plan, layer, ok)
        if not ok:
            plan.reasons[layer] = why
    if not plan.mountns and plan.uid is not None and any(p != "/tmp" for p in plan.hide):
        # Without a mount namespace a dropped user could not import from under a 0700 directory.
        plan.uid = None
        plan.reasons["uid"] = "no mount namespace, and the interpreter lies under a directory the sandbox user cannot enter"
    return plan


def _try_in_child(layer: str, flags: int, plan: Plan, tmpfs_mb: int) -> tuple[bool, str]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the probe child
        os.close(r)
        try:
            if layer == "mountns":
                enter_namespaces(Plan(uid=plan.uid, netns=False, mountns=True, hide=plan.hide), tmpfs_mb)
                if plan.uid is not None:
                    os.mkdir("/tmp/sandbox")
                    drop_privileges(plan.uid, "/tmp/sandbox")
                    import importlib  # noqa: F401 - proves the stdlib is still reachable
                    os.listdir(os.path.dirname(os.__file__))
            else:
                _check(_libc.unshare(flags), "unshare")
            os.write(w, b"ok")
        except BaseException as e:  # noqa: BLE001 - report any failure as the reason
            os.write(w, f"{type(e).__name__}: {e}".encode()[:500])
        os._exit(0)
    os.close(w)
    msg = os.read(r, 600).decode(errors="replace")
    os.close(r)
    os.waitpid(pid, 0)
    return (msg == "ok", msg if msg != "ok" else "")
