"""The sandbox runtime: how a farm node runs workload replicas (bubblewrap, cgroups, netns).

`Runtime` (sandbox.py) is the whole interface the farmer's agent uses; every other module holds
one concern: `spec` (what a replica is), `cgroups` (limits, freeze, kill), `disks` (sized ext4
volumes), `images` (the host system or a verified root filesystem archive), `network` (a
namespace and a /30 per replica), `launch` (the bubblewrap command line), `records` (what the
runtime keeps on disk so a restarted agent finds its replicas) and `errors`. docs/deployment.md
("The sandbox") says what each layer protects against and what it does not.
"""

from node.runtime.errors import (
    ImageInvalid,
    ImageMismatch,
    ImageUnavailable,
    InvalidReplicaSpec,
    ReplicaConflict,
    ReplicaNotFound,
    SandboxError,
    SandboxUnavailable,
    StartFailed,
)
from node.runtime.sandbox import Observed, ReplicaInfo, ReplicaState, Runtime
from node.runtime.spec import HOST_IMAGE, DiskMount, ReplicaSpec

__all__ = [
    "HOST_IMAGE",
    "DiskMount",
    "ImageInvalid",
    "ImageMismatch",
    "ImageUnavailable",
    "InvalidReplicaSpec",
    "Observed",
    "ReplicaConflict",
    "ReplicaInfo",
    "ReplicaNotFound",
    "ReplicaSpec",
    "ReplicaState",
    "Runtime",
    "SandboxError",
    "SandboxUnavailable",
    "StartFailed",
]
