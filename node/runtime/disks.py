"""A replica's disks: one ext4 file system per disk, in an image file of exactly its size.

The size is the file system's: a write past it fails inside the replica with ENOSPC, whatever
the host's free space (a per-directory quota would need project quotas on the host's file
system, which a farm machine's root file system rarely has). The image's blocks are reserved
with posix_fallocate, so a replica never finds its disk short because the host's filled up.

The image is mounted by the host (loop, nosuid, nodev) under the replica's directory and bound
into the sandbox. Its root directory belongs to the replica's own uid with mode 0700, so no
other replica's uid, nor any host user but root, can read it. The mount lives in the host's
mount table, so a restarted agent finds it there; unmounting a loop mount releases its loop
device (autoclear).
"""

import os
from pathlib import Path

from node.runtime.cgroups import unescape
from node.runtime.commands import run
from node.runtime.errors import SandboxError


def create(image: Path, mountpoint: Path, size_mb: int, owner: int) -> None:
    """Make the image, its file system and mount it at `mountpoint`, owned by uid/gid `owner`."""
    fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, size_mb << 20)
    except OSError as exc:
        raise SandboxError(f"cannot reserve {size_mb} MiB for {image}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    run(
        [
            "mkfs.ext4",
            "-q",
            "-F",
            "-m",
            "0",  # no blocks reserved for root: the replica gets the whole size
            "-E",
            f"root_owner={owner}:{owner},nodiscard",
            str(image),
        ]
    )
    mountpoint.mkdir(mode=0o700, exist_ok=True)
    run(["mount", "-t", "ext4", "-o", "loop,nosuid,nodev", str(image), str(mountpoint)])
    os.chmod(mountpoint, 0o700)  # the mounted file system's root, owned by `owner`


def remove(image: Path, mountpoint: Path) -> None:
    """Unmount and delete; every step is skipped when already done, so this can be repeated."""
    if is_mounted(mountpoint):
        run(["umount", str(mountpoint)])
    if image.exists():
        for device in loop_devices(image):  # left attached by a mount that was not autoclear
            run(["losetup", "-d", device])
        image.unlink()
    if mountpoint.is_dir():
        mountpoint.rmdir()


def is_mounted(path: Path) -> bool:
    return str(path) in mount_points()


def mount_points() -> set[str]:
    """Every mount point of this mount namespace (the octal escapes of mountinfo undone)."""
    points = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        points.add(unescape(line.split()[4]))
    return points


def loop_devices(image: Path) -> list[str]:
    """The loop devices backed by `image` (`losetup -j` prints `/dev/loopN: ...`)."""
    out = run(["losetup", "-j", str(image)])
    return [line.split(":", 1)[0] for line in out.splitlines() if line.strip()]
