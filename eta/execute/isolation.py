"""What a sandboxed child does to itself between fork and the candidate's first line.

Layers, each used where the kernel and our privileges allow, each with the reason when it is not (like
coverage.py's tracer fallback): a dedicated user id (files of the host and the supervisor become
untouchable, and every process of the sandbox can be killed at once), a network namespace (no network),
a mount namespace holding the candidate's own view of the filesystem (see :mod:`eta.execute.view`: it starts
empty and binds in only what running Python needs; its writable folders are emptied after each program),
and resource limits (always).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from typing import Any, Callable, Iterable

from eta.errors import UserError
from eta.execute import view as fsview

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
                 tmp_keep: list[str] | None = None, view: fsview.Spec | None = None,
                 tmp_links: dict[str, str] | None = None) -> None:
        self.uid = uid  # the sandbox's user id, or None when we cannot change user
        self.netns, self.mountns = netns, mountns
        self.reasons: dict[str, str] = {}  # layer -> why it is off
        self.disabled: set[str] = set()  # layers the user turned off (ETA_SANDBOX_DISABLE)
        # Paths under /tmp the fork server needs, resolved, bound back over its private /tmp; and the symbolic
        # links under /tmp that lead to them (a `.venv` linked to a folder in /tmp), made again there.
        self.tmp_keep = tmp_keep or []
        self.tmp_links = tmp_links or {}
        self.view = view  # the candidate's filesystem, built when mountns is on

    def describe(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "uid": f"on ({self.uid})" if self.uid is not None else f"off: {self.reasons.get('uid')}",
            "network": "isolated" if self.netns else f"open: {self.reasons.get('netns')}", "rlimits": "on"}
        if self.mountns and self.view is not None:
            found["filesystem"] = (f"own view: starts empty, {len(self.view.read_only)} host paths bound read-only; "
                                   f"writable only {', '.join(fsview.WRITABLE)}, private to each program")
            found.update(fsview.describe(self.view))
        else:
            found["filesystem"] = f"shared: {self.reasons.get('mountns')}"
            found.update(visible="the host's, as far as the candidate's user may read it",
                         writable="wherever on the host the candidate's user may write", packages={})
        return found


def _not_traversable_by_others(path: str) -> bool:
    try:
        return not (os.stat(path).st_mode & 0o001)
    except OSError:
        return False


def _keep_paths() -> list[str]:
    """The paths the fork server needs to import modules: the interpreter's, sys.path's, the project's."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, here}
    paths.update(p for p in sys.path if p and os.path.isabs(p))
    return sorted(p for p in paths if os.path.exists(p))


def tmp_keep(tmp: str = "/tmp") -> tuple[list[str], dict[str, str]]:
    """The outermost of those paths that lie under /tmp once every symbolic link along them is resolved,
    and the links under /tmp met on the way: the server covers its /tmp with a private tmpfs (where the
    candidate's view and its writable folders live), binds these paths back and makes the links again.
    Resolved first: a bind of the link's own path would leave the real folder, which the view binds,
    missing from the server's /tmp (issue 25, item 8)."""
    links: dict[str, str] = {}
    keep = sorted({fsview.resolve(p, links) for p in _keep_paths()})
    outermost = [p for p in keep if not any(fsview.under(p, q) for q in keep if q != p)]
    inside = [p for p in outermost if fsview.under(p, tmp)]
    return inside, {link: target for link, target in links.items() if fsview.under(link, tmp)}


def _interpreter_hidden() -> bool:
    """Whether a path the server needs lies under a folder others may not traverse (e.g. /root, 0700)."""
    for path in _keep_paths():
        parts = path.split(os.sep)
        if any(_not_traversable_by_others(os.sep.join(parts[:depth])) for depth in range(2, len(parts))):
            return True
    return False


def enter_namespaces(plan: Plan, tmpfs_mb: int) -> None:
    """Unshare the network and mounts for the whole fork server, once (every child inherits them), and
    build the candidate's view of the filesystem in there.

    Doing this per program would cost more than everything else in a program's life (a network namespace
    alone takes about 5 ms to create and tear down here). What stays per program is its own working
    directory and user, its chroot into the view, and the emptying of the view's writable folders after it
    (:func:`eta.execute.view.clear_writable`).
    """
    flags = (CLONE_NEWNS if plan.mountns else 0) | (CLONE_NEWNET if plan.netns else 0)
    if not flags:
        return
    _check(_libc.unshare(flags), "unshare")
    if not plan.mountns:
        return
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    # Opened inside the new namespace: a bind mount's source must belong to the caller's namespace.
    kept = {p: os.open(p, os.O_PATH) for p in plan.tmp_keep}
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmpfs_mb}m,mode=755")
    for path, fd in kept.items():
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        os.close(fd)
    for link, target in sorted(plan.tmp_links.items()):
        if not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(target, link)
    if plan.view is not None:
        fsview.build(plan.view, _mount)


def enter_view() -> None:
    """The child's "/" becomes the view (still as root: its user id is dropped after)."""
    os.chroot(fsview.ROOT)
    os.chdir("/")


def drop_capabilities() -> None:
    """Without a sandbox user the child stays uid 0; it must at least lose the capabilities that would let
    it chroot back out of the view or mount over it."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable, for both 32-bit halves: none
    _check(_libc.capset(header, data), "capset")


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


DISABLE_ENV = "ETA_SANDBOX_DISABLE"  # comma-separated layers the user turns off on purpose
LAYERS = {"mountns": "the file-system view", "netns": "the network namespace", "uid": "the sandbox user"}


class SandboxRefused(UserError):
    """A layer of the sandbox could not be set up and the user did not turn it off: no candidate runs.
    The message is one line that names the layer, why, and how to turn it off."""


def disabled_layers(environ: Any = os.environ) -> set[str]:
    names = {x.strip() for x in environ.get(DISABLE_ENV, "").split(",") if x.strip()}
    unknown = sorted(names - set(LAYERS))
    if unknown:
        raise SandboxRefused(f"{DISABLE_ENV}: unknown layer(s) {', '.join(unknown)}; the layers are "
                             f"{', '.join(LAYERS)}")
    return names


def refusal(plan: Plan) -> str | None:
    """One line naming every layer that is off without the user having asked for it, and why; or None."""
    missing = [layer for layer in LAYERS if layer not in plan.disabled and not layer_on(plan, layer)]
    if not missing:
        return None
    why = "; ".join(f"{LAYERS[layer]} ({layer}): {plan.reasons.get(layer, 'unknown reason')}" for layer in missing)
    return (f"the sandbox refuses to run programs, a layer could not be set up: {why}; fix that, or run with "
            f"{DISABLE_ENV}={','.join(sorted(plan.disabled | set(missing)))} to go without it")


def layer_on(plan: Plan, layer: str) -> bool:
    return plan.uid is not None if layer == "uid" else bool(getattr(plan, layer))


def layers(plan: Plan) -> dict[str, str]:
    """The layers in force, as metrics.json and W&B record them: "on", or "off" (turned off by the user)."""
    return {**{layer: "on" if layer_on(plan, layer) else "off" for layer in LAYERS}, "rlimits": "on"}


def probe(tmpfs_mb: int = 64, allow: Iterable[str] = fsview.DEFAULT_ALLOW_PACKAGES,
          while_waiting: Callable[[], object] | None = None) -> Plan:
    """Find out, in throwaway children, which layers this machine lets us use (see :func:`refusal` for
    what happens when one is missing). The children run at once, and `while_waiting` (work of the caller's
    that needs no namespace) runs meanwhile: making and tearing down a namespace takes the kernel 10-30 ms of
    waiting here, not of CPU, and a fork server's start-up used to wait for the two one after the other."""
    disabled = disabled_layers()
    keep, links = tmp_keep()
    plan = Plan(tmp_keep=keep, tmp_links=links)
    plan.disabled = set(disabled)
    if "mountns" not in disabled:
        try:
            plan.view = fsview.spec(allow)
        except Exception as e:  # noqa: BLE001 - the layer is off, with the reason (and refused, see refusal)
            disabled = disabled | {"mountns"}
            plan.reasons["mountns"] = f"the view of the filesystem could not be planned: {type(e).__name__}: {e}"
    if "uid" in disabled:
        plan.reasons["uid"] = f"disabled by {DISABLE_ENV}"
    elif os.geteuid() == 0:
        plan.uid = SANDBOX_UID_BASE + os.getpid()
    else:
        plan.reasons["uid"] = "not running as root: cannot switch to a sandbox user"
    trials = {}
    for layer, flags in (("netns", CLONE_NEWNET), ("mountns", CLONE_NEWNS)):
        if layer in disabled:
            plan.reasons.setdefault(layer, f"disabled by {DISABLE_ENV}")
            continue
        trials[layer] = _start_trial(layer, flags, plan, tmpfs_mb)
    if while_waiting is not None:
        while_waiting()
    for layer, trial in trials.items():
        ok, why = _trial_result(*trial)
        setattr(plan, layer, ok)
        if not ok:
            plan.reasons[layer] = why
    if not plan.mountns:
        plan.view = None
        if plan.uid is not None and _interpreter_hidden():
            # Without the view a dropped user could not import from under a 0700 directory.
            plan.uid = None
            plan.reasons["uid"] = ("no file-system view, and the interpreter lies under a directory the sandbox "
                                   "user cannot enter")
    return plan


def _start_trial(layer: str, flags: int, plan: Plan, tmpfs_mb: int) -> tuple[int, int]:
    """Try `layer` in a throwaway child; (its pid, the pipe its verdict comes on)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the probe child
        os.close(r)
        try:
            if layer == "mountns":
                _try_view(plan, tmpfs_mb)
            else:
                _check(_libc.unshare(flags), "unshare")
            os.write(w, b"ok")
        except BaseException as e:  # noqa: BLE001 - report any failure as the reason
            os.write(w, f"{type(e).__name__}: {e}".encode()[:500])
        os._exit(0)
    os.close(w)
    return pid, r


def _trial_result(pid: int, r: int) -> tuple[bool, str]:
    msg = os.read(r, 600).decode(errors="replace")
    os.close(r)
    os.waitpid(pid, 0)
    return (msg == "ok", msg if msg != "ok" else "")


def _try_view(plan: Plan, tmpfs_mb: int) -> None:  # pragma: no cover - runs in the probe child
    """The whole path of a child: the namespace, the view, the chroot, the user, an import from the view."""
    enter_namespaces(Plan(uid=plan.uid, netns=False, mountns=True, tmp_keep=plan.tmp_keep, view=plan.view,
                          tmp_links=plan.tmp_links), tmpfs_mb)
    enter_view()
    os.mkdir("/tmp/probe")
    if plan.uid is not None:
        drop_privileges(plan.uid, "/tmp/probe")
    else:
        drop_capabilities()
    sys.path[:] = plan.view.sys_path if plan.view else []
    sys.path_importer_cache.clear()
    os.listdir(os.path.dirname(os.__file__))
    __import__("colorsys")  # a module no server loads: proves the standard library is importable in the view
