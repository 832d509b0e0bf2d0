"""The benchmarks' certificates: the one-signature `Certifier` makes, byte for byte, the
certificate every key signing and aggregating makes, and it checks under the set."""

import pytest

from chain.blocks.commit import check_commit
from chain.blocks.header import Header
from chain.keys import keypair_from_seed
from chain.merkle import EMPTY_ROOT
from chain.staking.validators import make_validator_set, validator_with_key
from node.bench.blocks import Certifier, commit_for


def header_at(height: int) -> Header:
    return Header(
        chain_id="bench-certs",
        height=height,
        prev_hash=bytes([height % 256]) * 32,
        time_ms=1_000 * height,
        proposer=bytes(32),
        tx_root=EMPTY_ROOT,
        tx_count=0,
        state_root=b"\x02" * 32,
        audit_root=EMPTY_ROOT,
        audit_size=0,
        validators_hash=b"\x05" * 32,
        next_validators_hash=b"\x05" * 32,
        last_commit_hash=b"\x04" * 32,
        evidence_hash=EMPTY_ROOT,
    )


@pytest.mark.parametrize("count", [1, 4, 7])
def test_one_signature_makes_the_aggregate_of_every_keys(count: int) -> None:
    keys = [keypair_from_seed(bytes([i + 1]) * 32) for i in range(count)]
    certifier = Certifier.of("bench-certs", keys)
    vset = make_validator_set([validator_with_key(k, 1) for k in keys])
    for height in (1, 2, 300):
        header = header_at(height)
        made = certifier.certify(header)
        assert made == commit_for("bench-certs", keys, header)
        check_commit("bench-certs", vset, made, header)
