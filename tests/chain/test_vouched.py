"""Block sync's one certificate for a run of blocks (`vouched_run`): it stands for the blocks
that chain to it under one validator set, and only once it checks out; the run ends where the
set changes, and a block the run vouches for is still checked in everything but the signature
of the certificate it carries."""

from dataclasses import replace
from pathlib import Path

import pytest

from chain.blockchain import genesis_block, validate_block, vouched_run
from chain.blocks.block import Block
from chain.blocks.commit import Commit, check_commit, sign_commit
from chain.errors import InvalidBlock, present
from chain.staking.validators import validator_set_hash
from tests.kit.councilkit import NEWCOMERS, A, CouncilChain, add, make_genesis


def test_one_certificate_stands_for_the_run_under_one_set(tmp_path: Path) -> None:
    genesis = make_genesis()
    chain = CouncilChain(tmp_path / "chain", genesis)  # block 1
    chain.produce()  # 2
    chain.decide(add(NEWCOMERS[0]))  # 3: the new set signs from block 5
    chain.produce_until(7)
    items: list[tuple[Block, Commit]] = [
        (present(chain.store.block_at(h), "block"), present(chain.store.commit_at(h), "commit"))
        for h in range(1, 8)
    ]
    first_set = genesis.validators
    names = [validator_set_hash(first_set) == b.header.validators_hash for b, _ in items]
    assert names == [True, True, True, True, False, False, False]
    root = genesis_block(genesis).block.header
    assert vouched_run(genesis.chain_id, first_set, root, items) == 4  # the set changes at 5

    # the intermediate certificates are not what is checked: the last of the run is
    garbage = replace(items[1][1], signature=items[2][1].signature)
    assert (
        vouched_run(
            genesis.chain_id, first_set, root, [*items[:1], (items[1][0], garbage), *items[2:]]
        )
        == 4
    )
    forged_last = replace(items[3][1], signature=items[2][1].signature)
    with pytest.raises(InvalidBlock, match="not the aggregate"):
        vouched_run(genesis.chain_id, first_set, root, [*items[:3], (items[3][0], forged_last)])
    # a block that does not chain ends the run; a first block of another set, no run
    assert vouched_run(genesis.chain_id, first_set, root, [items[0], items[2]]) == 1
    assert vouched_run(genesis.chain_id, first_set, items[3][0].header, items[4:]) == 0
    chain.store.close()


def test_the_flag_spares_only_the_signature_of_the_carried_certificate(tmp_path: Path) -> None:
    chain = CouncilChain(tmp_path / "chain", make_genesis())
    chain.produce_until(2)
    parent, good = chain.head, present(chain.last_commit, "commit of 2")
    other = present(chain.store.commit_at(1), "commit of 1").signature
    chain.last_commit = replace(good, signature=other)  # block 3's header commits to it
    block = chain.build()[0].block
    validate_block(chain.store, parent, block, last_commit_vouched=True)
    with pytest.raises(InvalidBlock, match="not the aggregate"):
        validate_block(chain.store, parent, block)
    # what it claims is still checked: one signer of four is not a certificate
    chain.last_commit = sign_commit(chain.genesis.chain_id, chain.active(), [A], parent)
    weak = chain.build()[0].block
    with pytest.raises(InvalidBlock, match="more than 2/3"):
        validate_block(chain.store, parent, weak, last_commit_vouched=True)
    chain.store.close()


def test_a_run_whose_bodies_or_carried_certificates_fail_is_refused(tmp_path: Path) -> None:
    genesis = make_genesis()
    chain = CouncilChain(tmp_path / "chain", genesis)
    chain.produce_until(4)
    items = [
        (present(chain.store.block_at(h), "block"), present(chain.store.commit_at(h), "commit"))
        for h in range(1, 5)
    ]
    root = genesis_block(genesis).block.header
    swapped = replace(items[2][0], txs=items[0][0].txs)  # the header is certified: not its body
    emptied = replace(items[2][0], last_commit=None)
    for block, message in [(swapped, "tx_count"), (emptied, "last_commit_hash")]:
        with pytest.raises(InvalidBlock, match=message):
            vouched_run(
                genesis.chain_id,
                genesis.validators,
                root,
                [*items[:2], (block, items[2][1]), items[3]],
            )
    chain.store.close()


def test_a_carried_certificate_is_one_a_stored_commit_can_be(tmp_path: Path) -> None:
    chain = CouncilChain(tmp_path / "chain", make_genesis())
    chain.produce_until(4)
    for height in (2, 3):
        header = present(chain.store.block_at(height), "block").header
        carried = present(present(chain.store.block_at(height + 1), "next").last_commit, "lc")
        check_commit(chain.genesis.chain_id, chain.genesis.validators, carried, header)
    chain.store.close()
