"""Replace an output project tree so that it can never be lost (contract 5: no half-written tree).

A build writes the new tree into a staging folder beside the output, ``.OUT.tmp-<pid>-<hex>``, and then
swaps it in:

* **One atomic exchange where the platform allows it**: ``renameat2(RENAME_EXCHANGE)`` on Linux (ext4,
  xfs, btrfs, tmpfs, ...), ``renamex_np(RENAME_SWAP)`` on macOS (APFS). At every instant ``OUT`` is the
  complete old or the complete new tree. The old tree lands at the staging name and is removed.
* **Otherwise two renames, undone on failure**: ``OUT`` -> ``.OUT.old-<pid>-<hex>``, staging -> ``OUT``;
  if the second rename fails the first one is reversed. Only a process killed between those two
  renames leaves ``OUT`` missing; the next build (:func:`prepare_output`) then restores the old tree
  before anything else. A ``.OUT.old-*`` name is only ever given to a complete tree: it is renamed back
  to a staging name before it is deleted, so a half-deleted tree is never restored.

Stale temporaries of killed builds are removed at the start of the next build. A staging folder is
dead when the pid in its name is not a running process *and* nobody holds the ``flock`` that its
builder keeps on the folder while it writes (the lock also covers builders in another pid
namespace, e.g. a container sharing the volume; the pid covers the instant between ``mkdir`` and
``flock``). Staging folders of fpga-flow versions before this module (``.OUT.tmp-XXXXXXXX``, no pid)
are removed once untouched for :data:`LEGACY_STALE_SECONDS`.

Why not make ``OUT`` a symlink to a versioned hidden folder (swapped by renaming a new link over it)?
Users and tools treat ``OUT`` as a plain folder: ``cp -r``, ``tar``, ``rm -rf OUT``, Vivado projects
that record real paths and ``cd OUT/..`` would all see the link or leave the versions behind, and an
existing real ``OUT`` folder would still need the swap above. So ``OUT`` stays a real folder.

The guarantee is about processes dying (errors, Ctrl-C, ``kill -9``, a crash), not power loss: files are
not fsynced (a build rewrites hundreds of files, and a lost tree is rebuilt from its model).

Operating-system errors become :class:`~fpga_flow.errors.FlowError` with the path and what to do
(:func:`flow_error`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from fpga_flow.errors import FlowError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LEGACY_STALE_SECONDS", "Preparation", "Sibling", "StagingTree", "clean_stale", "exchange", "flow_error",
    "is_environmental", "prepare_output", "recover", "siblings",
]

LEGACY_STALE_SECONDS = 3600.0
"""A staging folder of an older fpga-flow (no pid in its name) is stale once untouched this long."""

_ENVIRONMENTAL = {
    errno.ENOSPC: "the disk is full: free some space or choose another -o",
    errno.EDQUOT: "the disk quota is exceeded: free some space or choose another -o",
    errno.EROFS: "the file system is read-only: choose another -o",
    errno.EACCES: "permission denied: choose a folder you can write with -o, or fix its permissions",
    errno.EPERM: "operation not permitted: choose a folder you can write with -o, or fix its permissions",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another -o",
    errno.EEXIST: "a file is in the way: remove it or choose another -o",
    errno.EIO: "the device reports an input/output error: check the disk or choose another -o",
    errno.EMLINK: "the folder holds too many entries: choose another -o",
    errno.ENAMETOOLONG: "the path is too long: choose a shorter -o",
    errno.EXDEV: "the staging folder and the output are on different file systems: choose another -o",
}


def is_environmental(e: OSError) -> bool:
    """True when ``e`` is about the output location (disk full, read-only, permissions, a file in the
    way), not a bug: :func:`flow_error` then tells the user what to do."""
    return e.errno in _ENVIRONMENTAL


def flow_error(e: OSError, out: Path) -> FlowError:
    """``e``, raised while writing the project ``out``, as a one-line message: the path, the system's
    reason and what to do."""
    where = e.filename if e.filename is not None else out
    reason = e.strerror or type(e).__name__
    advice = _ENVIRONMENTAL.get(e.errno or 0, "check the path and the disk, or choose another -o")
    return FlowError(f"cannot write the project {out}: {where}: {reason}; {advice}")


# ---------------------------------------------------------------------------- atomic exchange
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h
_RENAME_SWAP = 2  # macOS sys/stdio.h
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to load
        return None


_LIBC = _libc() if sys.platform in ("linux", "darwin") else None


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap the two existing entries ``a`` and ``b`` (same file system). False when the
    platform or the file system cannot (the caller falls back); an OSError for any other failure."""
    if _LIBC is None:
        return False
    if sys.platform == "linux":
        fn = getattr(_LIBC, "renameat2", None)
        if fn is None:  # glibc < 2.28, musl < 1.2.? : no wrapper
            return False
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    else:
        fn = getattr(_LIBC, "renamex_np", None)
        if fn is None:
            return False
        fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        rc = fn(os.fsencode(a), os.fsencode(b), _RENAME_SWAP)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


# ---------------------------------------------------------------------------- siblings: staging, old trees
_NEW = re.compile(r"(tmp|old)-(\d+)-[0-9a-f]{8}")
_LEGACY_TMP = re.compile(r"tmp-[a-z0-9_]{8}")  # tempfile.mkdtemp of fpga-flow before this module
_LEGACY_OLD = re.compile(r"old-(\d+)")


@dataclass(frozen=True)
class Sibling:
    """A hidden entry ``.OUT.<kind>-...`` beside ``OUT``: ``tmp`` (a staging folder, or a replaced tree
    being deleted: never complete) or ``old`` (a complete old tree set aside during a two-rename swap)."""

    path: Path
    kind: str  # "tmp" | "old"
    pid: int | None  # the builder's pid; None for a legacy staging folder

    def is_stale(self) -> bool:
        """True when its builder is gone (see the module docstring)."""
        if self.pid is None:
            try:
                age = time.time() - self.path.lstat().st_mtime
            except OSError:
                return False
            return age > LEGACY_STALE_SECONDS and not _is_locked(self.path)
        return not _pid_alive(self.pid) and not _is_locked(self.path)


def siblings(out: Path) -> list[Sibling]:
    """The hidden temporaries of builds of ``out`` beside it, sorted by name."""
    prefix = f".{out.name}."
    try:
        names = sorted(n for n in os.listdir(out.parent) if n.startswith(prefix))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        rest = name[len(prefix):]
        if m := _NEW.fullmatch(rest):
            found.append(Sibling(out.parent / name, m.group(1), int(m.group(2))))
        elif _LEGACY_TMP.fullmatch(rest):
            found.append(Sibling(out.parent / name, "tmp", None))
        elif m := _LEGACY_OLD.fullmatch(rest):
            found.append(Sibling(out.parent / name, "old", int(m.group(1))))
    return found


def recover(out: Path) -> Path | None:
    """If ``out`` is missing but a build died in the middle of a two-rename swap, put the complete old
    tree it set aside back (the newest one). Returns where it came from, or None."""
    if os.path.lexists(out):
        return None
    olds = [s for s in siblings(out) if s.kind == "old" and s.is_stale()]
    if not olds:
        return None
    best = max(olds, key=lambda s: s.path.lstat().st_mtime)
    os.rename(best.path, out)
    return best.path


def clean_stale(out: Path) -> list[Path]:
    """Remove the temporaries that dead builds of ``out`` left beside it; returns them. A complete old
    tree is only removed while ``out`` exists (otherwise :func:`recover` restores it)."""
    removed = []
    have_out = os.path.lexists(out)
    for s in siblings(out):
        if (s.kind == "old" and not have_out) or not s.is_stale():
            continue
        if s.kind == "old":  # never delete under an ``old`` name: a half-deleted tree must not be restored
            trash = _fresh_name(out, "tmp")
            os.rename(s.path, trash)
            _remove(trash)
        else:
            _remove(s.path)
        removed.append(s.path)
    return removed


@dataclass(frozen=True)
class Preparation:
    """What :func:`prepare_output` did."""

    restored_from: Path | None = None  # the old tree put back as ``out``
    removed: tuple[Path, ...] = ()  # stale temporaries removed


def prepare_output(out: Path) -> Preparation:
    """Check that ``out`` can be written, restore a tree lost by a killed build and remove stale
    temporaries: what a build does before its long steps.

    Raises FlowError when a part of the path is a file or the nearest existing folder is not writable."""
    try:
        anc = out.parent
        while not anc.exists() and not anc.is_symlink() and anc != anc.parent:
            anc = anc.parent
        if not anc.is_dir():
            raise FlowError(f"cannot write the project {out}: {anc} is a file, not a folder; choose another -o")
        if not os.access(anc, os.W_OK | os.X_OK):
            raise FlowError(f"cannot write the project {out}: the folder {anc} is not writable "
                            "(read-only file system or permissions); choose another -o")
        if anc != out.parent:
            return Preparation()
        restored = recover(out)
        return Preparation(restored, tuple(clean_stale(out)))
    except OSError as e:
        raise flow_error(e, out) from None


# ---------------------------------------------------------------------------- the staging tree
@dataclass
class StagingTree:
    """A locked staging folder beside ``out``; write the tree into :attr:`path`, then :meth:`commit`
    (or :meth:`discard`). As a context manager it discards on leaving without a commit."""

    out: Path
    path: Path
    _fd: int | None = field(default=None, repr=False)
    committed: bool = False

    @classmethod
    def create(cls, out: Path, mode: int = 0o755) -> StagingTree:
        """Make ``out``'s parent folders and a fresh staging folder beside ``out``, locked by this process."""
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            path = _fresh_name(out, "tmp")
            os.mkdir(path, mode)
        except OSError as e:
            raise flow_error(e, out) from None
        tree = cls(out, path, _lock(path))
        try:
            os.chmod(path, mode)  # the umask must not leave the project unreadable to the group
        except OSError as e:
            tree.discard()
            raise flow_error(e, out) from None
        return tree

    def commit(self) -> None:
        """Put the staging tree in place of ``out`` (see the module docstring) and remove the old tree.
        On failure ``out`` is unchanged and a FlowError says why; the staging tree is left for
        :meth:`discard`."""
        out, tmp = self.out, self.path
        try:
            if not os.path.lexists(out):
                os.rename(tmp, out)
            elif not exchange(tmp, out):
                self._swap_by_two_renames()
        except OSError as e:
            raise flow_error(e, out) from None
        self.committed = True
        self._unlock()
        _remove(tmp)  # the old tree now, if there was one

    def _swap_by_two_renames(self) -> None:
        out, tmp = self.out, self.path
        old = _fresh_name(out, "old")
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except BaseException:
            os.rename(old, out)
            raise
        try:
            os.rename(old, tmp)  # the old tree to the staging name before it is deleted
        except OSError:
            _remove(old)

    def discard(self) -> None:
        """Remove the staging folder (no-op after a commit); ``out`` is untouched."""
        self._unlock()
        if not self.committed:
            _remove(self.path)

    def _unlock(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StagingTree:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.discard()


# ---------------------------------------------------------------------------- helpers
def _fresh_name(out: Path, kind: str) -> Path:
    return out.with_name(f".{out.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(OSError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # pragma: no cover - os.kill would terminate it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _lock(path: Path) -> int | None:
    """Best effort: a file system without flock (some network mounts) leaves the pid as the only mark."""
    if fcntl is None:  # pragma: no cover
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _is_locked(path: Path) -> bool:
    if fcntl is None or not path.is_dir() or path.is_symlink():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False
