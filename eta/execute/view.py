"""The candidate's filesystem: a view that starts empty and binds in, read-only, what running Python needs.

What is bound in (at the same paths as on the host, with the symbolic links along them mirrored): the
interpreter and its standard library, the shared libraries it loads, a few files the C library reads (the
loader's cache, time zones, the C.UTF-8 locale), ``/dev/null``, ``/dev/zero``, ``/dev/full``,
``/dev/random``, ``/dev/urandom``, and the allow-listed packages with the packages they require. Nothing
else: no benchmark data, no reference solutions, no other site-packages, no project files, no caches, no
shell. A ``site-packages`` inside the standard library's folder is shown empty.

Writable: the view's ``/tmp``, ``/var/tmp`` and ``/dev/shm``, three folders of the fork server's private
tmpfs that the supervisor empties after every program; the program's working directory (its HOME and
TMPDIR) is made under ``/tmp``. Everything else is mounted read-only.

Built once per fork server, inside its mount namespace; each child ``chroot``s into it before it drops its
user id, which costs one system call per program. A process that has chrooted cannot create a user
namespace, and the dropped user cannot chroot again, so there is no way back out. Standard library only,
and only modules the fork server has loaded anyway: every module imported here is mapped by every child.
"""

from __future__ import annotations

import os
import re
import struct
import sys
from typing import Any, Iterable

DEFAULT_ALLOW_PACKAGES = ("numpy",)  # what generated solutions import beyond the standard library, where installed
ROOT = "/tmp/.eta-view"  # in the fork server's private /tmp: the candidate's "/"
SCRATCH = "/tmp/.eta-scratch"  # the writable folders' storage, outside the view
WRITABLE = {"/tmp": "tmp", "/var/tmp": "var-tmp", "/dev/shm": "dev-shm"}  # in the view -> folder of SCRATCH
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
RUNTIME_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/usr/share/zoneinfo", "/usr/lib/locale/C.utf8",
                 "/usr/lib/locale/C.UTF-8")

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND = 1, 2, 4, 32, 4096


class Spec:
    """What a view holds: host paths bound read-only, folders shown empty, symbolic links mirrored, the
    candidate's sys.path, and where each allowed package was found."""

    def __init__(self, read_only: list[str], covers: list[str], links: dict[str, str], sys_path: list[str],
                 packages: dict[str, str]) -> None:
        self.read_only, self.covers, self.links = read_only, covers, links
        self.sys_path, self.packages = sys_path, packages


def spec(allow: Iterable[str]) -> Spec:
    """The view for this interpreter with the packages `allow` (import names) importable."""
    links: dict[str, str] = {}
    stdlib = os.path.dirname(os.path.realpath(os.__file__))
    # The standard library zipped (python311.zip), where there is one.
    zips = [os.path.realpath(p) for p in sys.path if p.endswith(".zip") and os.path.isfile(p)]
    wanted = [stdlib, *zips, sys.executable, *DEVICES, *RUNTIME_FILES]
    venv_cfg = os.path.join(os.path.dirname(os.path.dirname(sys.executable)), "pyvenv.cfg")
    if sys.prefix != sys.base_prefix:
        wanted.append(venv_cfg)  # a subprocess of sys.executable then finds the same prefix
    wanted += _library_dirs()
    interpreter = _elf_interpreter(os.path.realpath(sys.executable))
    if interpreter:
        wanted.append(interpreter)  # the loader named in the executable (e.g. /lib64/ld-linux-x86-64.so.2)
    package_dirs = [p for p in dict.fromkeys(os.path.realpath(p) for p in sys.path if p and os.path.isabs(p))
                    if os.path.isdir(p) and not _is_stdlib(p, stdlib)]
    wanted += [p for p in _mapped_libraries() if not any(under(p, d) for d in package_dirs)]
    found, packages = _packages(allow, package_dirs)
    wanted += found
    covers = [os.path.join(stdlib, name) for name in ("site-packages", "dist-packages")
              if os.path.isdir(os.path.join(stdlib, name))]
    resolved = {resolve(p, links) for p in wanted if os.path.lexists(p)}
    if any(p in WRITABLE for p in resolved):
        raise ValueError(f"{', '.join(sorted(p for p in resolved if p in WRITABLE))}: a needed path is a folder "
                         "the view keeps for the program's own files")
    # A needed path inside /tmp (a virtualenv made there, say) gets a read-only folder of its own inside
    # the program's writable /tmp, so that the program can neither write there nor leave anything behind.
    covers += sorted({top for p in resolved if (top := _writable_top(p))})
    read_only = _outermost(resolved, covers)
    used = {os.path.dirname(p) for p in found}
    sys_path = [p for p in dict.fromkeys(os.path.realpath(p) for p in sys.path if p and os.path.isabs(p))
                if os.path.exists(p) and ((_is_stdlib(p, stdlib) and p not in covers) or p in used or p in zips)]
    return Spec(read_only, covers, links, sys_path, packages)


def _writable_top(path: str) -> str | None:
    """The folder directly inside a writable place that holds `path` (``/tmp/x`` for ``/tmp/x/y``), or None."""
    for folder in WRITABLE:
        if under(path, folder):
            return os.path.join(folder, path[len(folder) + 1:].split("/")[0])
    return None


def _outermost(paths: set[str], covers: list[str]) -> list[str]:
    """The paths not visible already through another one bound around them (a cover between hides them)."""
    def owner(path: str) -> str | None:
        around = [p for p in (*paths, *covers) if under(path, p)]
        return max(around, key=len) if around else None
    return sorted(p for p in paths if owner(p) is None or owner(p) in covers)


def _is_stdlib(path: str, stdlib: str) -> bool:
    """The standard library's folder or one in it (lib-dynload), but not a site-packages kept there."""
    base = os.path.basename(path)
    return (path == stdlib or under(path, stdlib)) and base not in ("site-packages", "dist-packages")


def under(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def resolve(path: str, links: dict[str, str], depth: int = 0) -> str:
    """The path with every symbolic link along it resolved, each link recorded so that the view has it too."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    for i, name in enumerate(parts):
        step = os.path.join(current, name)
        if depth < 40 and os.path.islink(step):
            target = os.readlink(step)
            links[step] = target
            return resolve(os.path.normpath(os.path.join(current, target, *parts[i + 1:])), links, depth + 1)
        current = step
    return os.path.normpath(current)


def _library_dirs() -> list[str]:
    """The system's own library folders (lib/<multiarch>), where the extension modules' libraries are.
    Not /usr/lib or /usr/local/lib whole: they hold other Pythons' packages."""
    arch = getattr(sys.implementation, "_multiarch", "")
    if not arch:
        return []
    return [p for p in (f"/lib/{arch}", f"/usr/lib/{arch}") if os.path.isdir(p)]


def _mapped_libraries() -> list[str]:
    """Shared libraries this process has loaded (libpython among them), for a subprocess to load again."""
    found = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                fields = line.split(None, 5)
                path = fields[5].strip() if len(fields) == 6 else ""
                if path.startswith("/") and ".so" in os.path.basename(path) and os.path.isfile(path):
                    found.append(path)
    except OSError:
        pass
    return sorted(set(found))


def _elf_interpreter(path: str) -> str | None:
    """The program interpreter (PT_INTERP) that an ELF executable names, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only; elsewhere the loader is bound by path
                return None
            end = "<" if head[5] == 1 else ">"
            phoff, = struct.unpack_from(end + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            for i in range(phnum):
                kind, _, offset, _, _, size = struct.unpack_from(end + "IIQQQQ", table, i * phentsize)
                if kind == 3:  # PT_INTERP
                    f.seek(offset)
                    return f.read(size).rstrip(b"\0").decode()
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


class _Dir:
    """One package folder of sys.path, listed once: its entries and its distributions by normalized name."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.entries = sorted(os.listdir(path))
        except OSError:
            self.entries = []
        self.dists = {_normalize(e.split("-")[0]): e for e in self.entries if e.endswith(".dist-info")}

    def module(self, name: str) -> str | None:
        """The entry that `import name` would load from this folder."""
        if os.path.isdir(os.path.join(self.path, name)):
            return name
        for entry in self.entries:
            if entry == name + ".py" or (entry.startswith(name + ".") and entry.endswith(".so")):
                return entry
        return None

    def dist_for_module(self, name: str) -> str | None:
        if _normalize(name) in self.dists:
            return self.dists[_normalize(name)]
        for dist in self.dists.values():  # import name differs from the distribution's (yaml in PyYAML)
            if name in _read(os.path.join(self.path, dist, "top_level.txt")).split():
                return dist
        return None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _packages(allow: Iterable[str], dirs: list[str]) -> tuple[list[str], dict[str, str]]:
    """Host paths to bind for the allowed packages and what they require, and a line per allowed name."""
    folders = [_Dir(d) for d in dirs]
    paths: list[str] = []
    report: dict[str, str] = {}
    done: set[str] = set()
    for name in allow:
        for folder in folders:
            entry = folder.module(name)
            if entry is None:
                continue
            dist = folder.dist_for_module(name)
            if dist is None:  # no metadata: the module, and a wheel's bundled libraries beside it
                paths += [os.path.join(folder.path, e) for e in (entry, name + ".libs") if e in folder.entries]
                report[name] = os.path.join(folder.path, entry)
                break
            required = _bind_dist(folder, dist, folders, paths, done)
            report[name] = os.path.join(folder.path, entry) + (f" (with {', '.join(required)})" if required else "")
            break
        else:
            report[name] = "not installed"
    return paths, report


def _bind_dist(folder: _Dir, dist: str, folders: list[_Dir], paths: list[str], done: set[str]) -> list[str]:
    """Add a distribution's files (its RECORD's top-level entries) and, recursively, those of the
    distributions it requires; returns the names of those required that were found."""
    if (folder.path, dist) in done:
        return []
    done.add((folder.path, dist))
    for top in _record_tops(folder.path, dist):
        paths.append(os.path.join(folder.path, top))
    required = []
    for name in _requires(os.path.join(folder.path, dist, "METADATA")):
        for other in folders:
            found = other.dists.get(_normalize(name))
            if found:
                required.append(name)
                required += [r for r in _bind_dist(other, found, folders, paths, done) if r not in required]
                break
    return required


def _record_tops(folder: str, dist: str) -> list[str]:
    """What a distribution installed in `folder`: its top-level folders, and its top-level files one by one
    (a single-module distribution's ``__pycache__`` entry names one file, not the shared folder)."""
    tops: set[str] = {dist}
    for line in _read(os.path.join(folder, dist, "RECORD")).splitlines():
        path = line.rsplit(",", 2)[0].strip('"') if line.count(",") >= 2 else line.strip()
        if not path or path.startswith(("/", "..")):
            continue
        head, _, rest = path.partition("/")
        tops.add(path if head == "__pycache__" or not rest else head)
    return sorted(t for t in tops if os.path.lexists(os.path.join(folder, t)))


def _requires(metadata: str) -> list[str]:
    """The distributions a METADATA file requires, extras left out."""
    names = []
    for line in _read(metadata).splitlines():
        if not line.startswith("Requires-Dist:"):
            if not line.strip():
                break  # the headers end at the first blank line; the description follows
            continue
        value = line.split(":", 1)[1]
        requirement, _, marker = value.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if match:
            names.append(match.group(1))
    return names


def build(view: Spec, mount: Any, root: str = ROOT, scratch: str = SCRATCH) -> None:
    """Mount the view at `root` (inside the caller's own mount namespace). `mount(source, target, fstype,
    flags, data)` is the mount system call. Each bind is made read-only as soon as it is made, so that no
    later step can write through it to the host."""
    os.makedirs(root, exist_ok=True)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    mounted: dict[str, str] = {"/": "tmpfs"}
    # The writable folders first: a read-only folder the view needs inside one is mounted over it after.
    for inside, folder in WRITABLE.items():
        storage = os.path.join(scratch, folder)
        os.makedirs(storage, exist_ok=True)
        os.chmod(storage, 0o1777)
        os.makedirs(root + inside, exist_ok=True)
        mount(storage, root + inside, None, MS_BIND)
        mount("none", root + inside, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    ops = [(p, "cover") for p in view.covers] + [(p, "bind") for p in view.read_only]
    for path, kind in sorted(ops, key=lambda op: op[0].split("/")):  # a folder before what is inside it
        owner = max((m for m in mounted if m == "/" or path == m or under(path, m)), key=len)
        if owner == path or (kind == "bind" and mounted[owner] == "bind"):
            continue  # visible already, through the folder bound around it
        target = root + path
        if os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.lexists(target):
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        if kind == "cover":
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        else:
            mount(path, target, None, MS_BIND)
            device = path.startswith("/dev/")
            mount("none", target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | (0 if device else MS_NODEV))
        mounted[path] = kind
    for link, target in sorted(view.links.items()):
        where = root + link
        if not os.path.lexists(where):
            os.makedirs(os.path.dirname(where), exist_ok=True)
            os.symlink(target, where)
    for path in sorted((p for p, k in mounted.items() if k != "bind"), key=len, reverse=True):
        target = root + path if path != "/" else root
        mount("none", target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)  # the view's root last


def clear_writable(view: Spec, scratch: str = SCRATCH) -> None:
    """Empty the writable folders after a program, so nothing passes from one program to the next (but
    the read-only folders the view itself needs there, which no program can write into)."""
    kept = [top for top in view.covers if _writable_top(top) == top]
    for inside, folder in WRITABLE.items():
        clear(os.path.join(scratch, folder), keep={os.path.basename(t) for t in kept if os.path.dirname(t) == inside})


def clear(folder: str, keep: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    for name in os.listdir(folder):
        if name in keep:
            continue
        path = os.path.join(folder, name)
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


def describe(view: Spec) -> dict[str, Any]:
    return {"visible": list(view.read_only), "writable": list(WRITABLE), "packages": dict(view.packages)}
