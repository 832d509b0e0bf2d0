"""Images: what a replica sees as its system.

"host" is the node's own system, bound read-only: /usr and the links or directories beside it
(/bin, /lib, ...), enough for `python3 -m http.server`. Any other image is "sha256:<hex>", a root
filesystem archive the agent fetches from the spec's URL into a content-addressed cache:

* the whole download is hashed and compared with the spec's sha256 before a single member is
  unpacked; a mismatch is ImageMismatch and the download is deleted;
* unpacking goes through tarfile's `data` filter (no absolute paths or `..` out of the tree, no
  device files, no setuid bits, links that stay inside), with one change: a symlink whose target
  is absolute (`bin/sh -> /bin/busybox`, everywhere in real root filesystems) is rewritten to
  the equivalent relative target, which means the same thing once the tree is the sandbox's
  root and can never point into the host's tree while we unpack or prepare it;
* the tree is unpacked into a temporary directory and renamed into place, so a cache entry that
  exists is complete, and two agents fetching the same image never see half of one.

The cached tree is bound read-only into every replica of the image; each replica's writable
places are its /tmp and its disks.
"""

import hashlib
import http.client
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from node.runtime.errors import ImageInvalid, ImageMismatch, ImageUnavailable
from node.runtime.spec import HOST_IMAGE

HOST_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
MOUNTED_DIRS = ("proc", "dev", "tmp")  # the sandbox mounts its own here, over the image's
GENERATED_ETC = ("passwd", "group", "hosts", "resolv.conf", "hostname", "nsswitch.conf")
CHUNK = 1 << 20


@dataclass(frozen=True)
class SystemEntry:
    """One top-level entry of a replica's root: a read-only bind or a symlink."""

    kind: str  # "ro-bind" or "symlink"
    source: str  # a host path to bind, or a symlink's target
    dest: str


def host_system() -> list[SystemEntry]:
    """The node's read-only system, as its root lays it out (merged /usr or not)."""
    entries = []
    for path in HOST_SYSTEM:
        if os.path.islink(path):
            entries.append(SystemEntry("symlink", os.readlink(path), path))
        elif os.path.isdir(path):
            entries.append(SystemEntry("ro-bind", path, path))
    return entries


def rootfs_system(rootfs: Path) -> list[SystemEntry]:
    """A cached root filesystem's top-level entries (its /etc holds our generated files'
    mount points: see `prepare`)."""
    entries = []
    for name in sorted(os.listdir(rootfs)):
        if name in MOUNTED_DIRS:
            continue
        path = rootfs / name
        if path.is_symlink():
            entries.append(SystemEntry("symlink", os.readlink(path), "/" + name))
        else:
            entries.append(SystemEntry("ro-bind", str(path), "/" + name))
    return entries


class ImageCache:
    """Verified, unpacked root filesystems under `root`/sha256/<hex>."""

    def __init__(
        self,
        root: Path,
        schemes: Sequence[str] = ("http", "https"),
        max_download: int = 4 << 30,
        max_unpacked: int = 16 << 30,
        timeout: float = 60.0,
    ) -> None:
        self.root = root
        self.schemes = tuple(schemes)
        self.max_download = max_download
        self.max_unpacked = max_unpacked
        self.timeout = timeout

    def path(self, image: str) -> Path:
        return self.root / "sha256" / image.removeprefix("sha256:")

    def system(self, image: str, url: str) -> list[SystemEntry]:
        """What a replica of `image` binds as its system, fetching the image if need be."""
        if image == HOST_IMAGE:
            return host_system()
        return rootfs_system(self.ensure(image, url))

    def ensure(self, image: str, url: str) -> Path:
        final = self.path(image)
        if final.is_dir():
            return final
        for d in (self.root, final.parent, self.root / "partial"):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o711)  # replicas' uids pass through to their image, whatever the umask
        archive = self.fetch(url, image.removeprefix("sha256:"))
        try:
            tree = Path(tempfile.mkdtemp(dir=self.root / "partial"))
            try:
                unpack(archive, tree, self.max_unpacked)
                prepare(tree)
                os.chmod(tree, 0o755)
                try:
                    os.rename(tree, final)
                except OSError:  # another fetch of the same image finished first
                    if not final.is_dir():
                        raise
            finally:
                if tree.exists():
                    shutil.rmtree(tree)
        finally:
            archive.unlink(missing_ok=True)
        return final

    def fetch(self, url: str, sha256: str) -> Path:
        """Download `url` to a partial file, hashing as it comes; the file only if it matches."""
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in self.schemes:
            raise ImageUnavailable(f"{url}: the URL scheme must be one of {self.schemes}")
        fd, name = tempfile.mkstemp(dir=self.root / "partial", suffix=".download")
        path = Path(name)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=self.timeout) as r:
                while chunk := r.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_download:
                        raise ImageUnavailable(f"{url}: larger than {self.max_download} bytes")
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            path.unlink(missing_ok=True)
            raise ImageUnavailable(f"{url}: cannot fetch: {exc}") from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if digest.hexdigest() != sha256:
            path.unlink(missing_ok=True)
            raise ImageMismatch(
                f"{url}: sha256 is {digest.hexdigest()}, the spec names {sha256}; not unpacked"
            )
        return path


def unpack(archive: Path, tree: Path, max_unpacked: int) -> None:
    total = 0
    listed: set[str] = set()  # directories with their own member, and so their own mode

    def rootfs_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        nonlocal total
        total += member.size
        if total > max_unpacked:
            raise ImageInvalid(f"the image unpacks to more than {max_unpacked} bytes")
        if member.issym():
            member = relative_symlink(member)
        safe = tarfile.data_filter(member, dest)
        if safe.isdir() and member.mode is not None:
            safe = safe.replace(mode=(member.mode & 0o755) | 0o700, deep=False)
            listed.add(os.path.normpath(os.path.join(dest, safe.name)))
        return safe

    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(tree, filter=rootfs_filter)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImageInvalid(f"the image is not a safe root filesystem archive: {exc}") from exc
    # Directories tarfile made for members without an entry of their own got the agent's
    # umask; as in any tar, they are 0755.
    for here, subdirs, _ in os.walk(tree):
        for name in subdirs:
            path = os.path.join(here, name)
            if path not in listed and not os.path.islink(path):
                os.chmod(path, 0o755)


def relative_symlink(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """`member` with an absolute target replaced by the relative path that resolves to it
    when the tree is the root: `bin/sh -> /bin/busybox` becomes `bin/sh -> busybox`."""
    if not member.linkname.startswith("/"):
        return member
    here = posixpath.dirname("/" + member.name.lstrip("/"))
    target = posixpath.relpath(posixpath.normpath(member.linkname), here)
    return member.replace(linkname=target, deep=False)


def prepare(tree: Path) -> None:
    """Give an unpacked tree the mount points the sandbox needs: /proc, /dev and /tmp as
    directories, and in /etc an empty regular file for each file we generate.

    Every step works through directory descriptors opened with O_NOFOLLOW and never follows a
    symlink: the tree is the image author's, and `etc -> /etc` must not reach the host's."""
    top = os.open(tree, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name in (*MOUNTED_DIRS, "etc"):
            kind = kind_of(name, top)
            if kind == "link" and name != "etc":
                os.unlink(name, dir_fd=top)
                kind = "missing"
            if kind == "missing":
                os.mkdir(name, dir_fd=top)
                os.chmod(name, 0o755, dir_fd=top)
            elif kind != "dir":
                raise ImageInvalid(f"the image's /{name} is not a directory")
        etc = os.open("etc", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
        try:
            for name in GENERATED_ETC:
                kind = kind_of(name, etc)
                if kind == "link":
                    os.unlink(name, dir_fd=etc)
                elif kind not in ("missing", "file"):
                    raise ImageInvalid(f"the image's /etc/{name} is not a file")
                flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_TRUNC
                os.close(os.open(name, flags, 0o644, dir_fd=etc))
        finally:
            os.close(etc)
    finally:
        os.close(top)


def kind_of(name: str, dir_fd: int) -> str:
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"
