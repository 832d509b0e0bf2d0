"""What can go wrong in the VM: code refused at deploy, and the ways a call stops early.

`InvalidCode` is a rule violation (a RuleViolation): the code is never stored. The others are how
a call ends without returning; they are not RuleViolations because the transaction stays valid
(it is in the block and pays its gas), only its writes are discarded.
"""

from chain.errors import RuleViolation


class InvalidCode(RuleViolation):
    """Deploy-time rejection; the message names the function, the offset and the reason."""

    code = "invalid_code"


class Halt(Exception):
    """Ends a call before it returns. `gas` is the gas left at that moment: set where it is
    known (the VM frame stamps it on the way out if the raiser could not)."""

    def __init__(self, message: str, gas: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.gas = gas


class Fault(Halt):
    """The code did something the rules forbid (wrong kinds, overflow, bad host argument)."""


class BrokenInvariant(Fault):
    """Validated code broke something the validator guarantees: a bug of ours, never of the
    code, and still a deterministic end of the call on every node (never an `assert`, which
    `python -O` would drop)."""


class Revert(Halt):
    """The code gave up on purpose (REVERT) with a message for the caller."""


class OutOfGas(Halt):
    """The next charge did not fit in what was left; the whole limit is used."""

    def __init__(self) -> None:
        super().__init__("out of gas", 0)
