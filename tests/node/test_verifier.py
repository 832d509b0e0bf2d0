"""Signature workers: verdicts in order, and a worker that dies costs time, never a verdict."""

import os
import signal
import time
from dataclasses import replace

from chain.address import key_address
from node.verifier import CHUNK, SignatureVerifier
from tests.kit.support import dev_key, transfer


def batch(count: int, bad: set[int]) -> list:  # type: ignore[type-arg]
    alice, bob = dev_key("alice"), key_address(dev_key("bob").public_key)
    txs = [transfer(alice, bob, 1, nonce) for nonce in range(count)]
    for i in bad:  # a signature over other bytes
        txs[i] = replace(txs[i], signatures=(replace(txs[i].signatures[0], signature=b"\0" * 64),))
    return txs


def test_verdicts_come_back_in_order_from_the_workers() -> None:
    verifier = SignatureVerifier(2)
    try:
        txs = batch(3 * CHUNK, bad={5, 600})
        verdicts = verifier.verify(txs)
        assert [i for i, v in enumerate(verdicts) if v is not None] == [5, 600]
        assert verdicts[5] is not None and verdicts[5][0] == "bad_signature"
    finally:
        verifier.close()


def test_a_killed_worker_is_replaced_and_its_chunk_verified_anyway() -> None:
    verifier = SignatureVerifier(2)
    try:
        txs = batch(3 * CHUNK, bad={700})
        assert verifier.verify(txs)[700] is not None  # the workers are up
        pool = verifier._pool
        assert pool is not None
        for pid in list(pool._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        verdicts = verifier.verify(txs)
        assert [i for i, v in enumerate(verdicts) if v is not None] == [700]
        assert verifier._pool is not pool, "the broken pool was kept"
        assert [i for i, v in enumerate(verifier.verify(txs)) if v is not None] == [700]
    finally:
        verifier.close()
