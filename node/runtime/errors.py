"""The runtime's named errors.

Every one is a `LocalFault`: what a replica's spec, image or process does on this machine is
never a verdict on a block or a transaction. The agent reports a replica that could not start
as a failed result, with the error's `code` as the reason (`image_mismatch`, say).
"""

from chain.errors import LocalFault


class SandboxError(LocalFault):
    """The runtime could not do what was asked."""

    code = "sandbox_error"


class SandboxUnavailable(SandboxError):
    """This machine cannot run sandboxes: a missing command, cgroups not writable, not root."""

    code = "sandbox_unavailable"


class CommandFailed(SandboxError):
    """A system command (ip, mount, mkfs.ext4) failed; the message holds its stderr."""

    code = "command_failed"


class InvalidReplicaSpec(SandboxError):
    """A spec this runtime will not run (a bad key, mountpoint, limit or image name)."""

    code = "invalid_replica_spec"


class ReplicaConflict(SandboxError):
    """A start for a key that runs another spec: stop it first."""

    code = "replica_conflict"


class ReplicaNotFound(SandboxError):
    """A pause or resume for a key this runtime does not hold."""

    code = "replica_not_found"


class ImageUnavailable(SandboxError):
    """The image archive could not be fetched (network, size limit, URL scheme)."""

    code = "image_unavailable"


class ImageMismatch(SandboxError):
    """The fetched archive's sha256 is not the one the spec names: nothing was unpacked."""

    code = "image_mismatch"


class ImageInvalid(SandboxError):
    """A verified archive that is not a usable root filesystem (unsafe member, not a tar)."""

    code = "image_invalid"


class StartFailed(SandboxError):
    """The sandbox did not start; the message holds the tail of the replica's log."""

    code = "start_failed"
