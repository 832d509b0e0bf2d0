"""BLS12-381 (chain.bls): both backends byte-identical, and every way to cheat a verifier refused.

The reference backend (py_ecc) is pure Python: ~110 ms a sign, ~330 ms a verify, so property
tests run few examples and the reference runs only where the comparison is the point.
"""

import pytest
from eth_typing import BLSPubkey, BLSSignature
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from py_arkworks_bls12381 import GT, G1Point, G2Point
from py_ecc.bls.g2_primitives import pubkey_to_G1, signature_to_G2, subgroup_check
from py_ecc.bls.hash import i2osp
from py_ecc.optimized_bls12_381 import b as G1_B
from py_ecc.optimized_bls12_381 import b2 as G2_B
from py_ecc.optimized_bls12_381 import field_modulus, is_inf, is_on_curve, multiply, normalize

from chain import bls
from chain.bls.fast import FAST, public_key_point
from chain.bls.reference import REFERENCE
from chain.bls.suite import CURVE_ORDER, SIGNATURE_DST, Backend, keygen_secret
from chain.errors import InvalidBlsKey, InvalidSignature, RuleViolation

BACKENDS = [pytest.param(FAST, id="arkworks"), pytest.param(REFERENCE, id="py_ecc")]
IDENTITY_KEY = b"\xc0" + bytes(47)
IDENTITY_SIGNATURE = b"\xc0" + bytes(95)
FEW = settings(max_examples=3, deadline=None)

secrets = st.integers(min_value=1, max_value=CURVE_ORDER - 1)
messages = st.binary(max_size=64)


def key_of(secret: int, backend: Backend = FAST) -> bls.BlsKey:
    return bls.bls_key_from_secret(secret.to_bytes(32, "big"), backend)


def flip_last_bit(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


# Vectors of ethereum/bls12-381-tests v0.1.2 (CC0), the suite of Ethereum's consensus specs.

SECRETS = [
    0x263DBD792F5B1BE47ED85F8938C0F29586AF0D3AC7B977F21C278FE1462040E3,
    0x47B8192D77BF871B62E87859D653922725724A5C031AFEABC60BCEF5FF665138,
    0x328388AFF0D4A5B7DC9205ABD374E7E98F3CD9F3418EDB4EAFDA5FB16473D216,
]
PUBLIC_KEYS = [
    bytes.fromhex(
        "a491d1b0ecd9bb917989f0e74f0dea0422eac4a873e5e2644f368dffb9a6e20f"
        "d6e10c1b77654d067c0618f6e5a7f79a"
    ),
    bytes.fromhex(
        "b301803f8b5ac4a1133581fc676dfedc60d891dd5fa99028805e5ea5b08d3491"
        "af75d0707adab3b70c6a6a580217bf81"
    ),
    bytes.fromhex(
        "b53d21a4cfd562c469cc81514d4ce5a6b577d8403d32a394dc265dd190b47fa9"
        "f829fdd7963afdf972e5e77854051f6f"
    ),
]
ZEROS, FIFTY_SIXES, ABS = bytes(32), b"\x56" * 32, b"\xab" * 32
SIGN_VECTORS = [  # (secret index, message, signature)
    (
        0,
        ZEROS,
        "b6ed936746e01f8ecf281f020953fbf1f01debd5657c4a383940b020b26507f6076334f91e2366c96e9ab2"
        "79fb5158090352ea1c5b0c9274504f4f0e7053af24802e51e4568d164fe986834f41e55c8e850ce1f98458"
        "c0cfc9ab380b55285a55",
    ),
    (
        1,
        FIFTY_SIXES,
        "af1390c3c47acdb37131a51216da683c509fce0e954328a59f93aebda7e4ff974ba208d9a4a2a2389f892a"
        "9d418d618418dd7f7a6bc7aa0da999a9d3a5b815bc085e14fd001f6a1948768a3f4afefc8b8240dda329f9"
        "84cb345c6363272ba4fe",
    ),
    (
        2,
        ABS,
        "ae82747ddeefe4fd64cf9cedb9b04ae3e8a43420cd255e3c7cd06a8d88b7c7f8638543719981c5d16fa352"
        "7c468c25f0026704a6951bde891360c7e8d12ddee0559004ccdbe6046b55bae1b257ee97f7cdb955773d7c"
        "f29adf3ccbb9975e4eb9",
    ),
]
# fast_aggregate_verify_valid_3d7576f3c0e3570a: all three keys sign ABS.
AGGREGATE_OF_THREE = bytes.fromhex(
    "9712c3edd73a209c742b8250759db12549b3eaf43b5ca61376d9f30e2747dbcf842d8b2ac0901d2a093713e2"
    "0284a7670fcf6954e9ab93de991bb9b313e664785a075fc285806fa5224c82bde146561b446ccfc706a64b85"
    "79513cfc4ff1d930"
)
# deserialization_G1 cases that must fail (and the identity, which decodes but is no key).
BAD_KEYS = {
    "infinity_with_false_b_flag": "80" + "00" * 47,
    "infinity_with_true_b_flag": "c010" + "00" * 46,
    "not_in_G1": "8123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcdef",
    "not_in_curve": "8123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcde0",
    "b_flag_and_a_flag_true": "e0" + "00" * 47,
    "b_flag_and_x_nonzero": "c123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcdef",
    "wrong_c_flag": "0123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcdef",
    "x_equal_to_modulus": "9a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf"
    "6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab",
    "x_greater_than_modulus": "9a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf"
    "6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaac",
    "identity": IDENTITY_KEY.hex(),
}
_X = "8123456789abcdef0123456789abcdef0123456789abcdef" * 4
# deserialization_G2 cases that must fail.
BAD_SIGNATURES = {
    "infinity_with_false_b_flag": "80" + "00" * 95,
    "infinity_with_true_b_flag": "c010" + "00" * 94,
    "not_in_G2": _X,
    "not_in_curve": _X[:-1] + "0",
    "b_flag_and_a_flag_true": "e0" + "00" * 95,
    "b_flag_and_x_nonzero": "c1" + _X[2:],
    "wrong_c_flag": "01" + _X[2:],
    "xim_equal_to_modulus": "9a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf"
    "6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab" + "00" * 48,
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_ethereum_public_key_and_sign_vectors(backend: Backend) -> None:
    for secret, public_key in zip(SECRETS, PUBLIC_KEYS, strict=True):
        assert key_of(secret, backend).public_key == public_key
    for index, message, signature in SIGN_VECTORS[: 3 if backend is FAST else 1]:
        assert bls.sign(key_of(SECRETS[index]), message, backend) == bytes.fromhex(signature)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_ethereum_fast_aggregate_verify_vectors(backend: Backend) -> None:
    fav = bls.fast_aggregate_verify
    assert fav(PUBLIC_KEYS, ABS, AGGREGATE_OF_THREE, backend)
    assert not fav(PUBLIC_KEYS[:2], ABS, AGGREGATE_OF_THREE, backend)  # a signer missing
    assert not fav([*PUBLIC_KEYS, PUBLIC_KEYS[2]], ABS, AGGREGATE_OF_THREE, backend)  # extra
    assert not fav(PUBLIC_KEYS, ABS, AGGREGATE_OF_THREE[:-4] + b"\xff" * 4, backend)
    assert not fav([*PUBLIC_KEYS, IDENTITY_KEY], ABS, AGGREGATE_OF_THREE, backend)
    assert not fav([], ABS, IDENTITY_SIGNATURE, backend)


def test_the_aggregate_of_the_vectors_is_the_ethereum_aggregate() -> None:
    signatures = [bls.sign(key_of(secret), ABS) for secret in SECRETS]
    assert bls.aggregate(signatures) == AGGREGATE_OF_THREE


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(BAD_KEYS))
def test_key_validate_refuses_the_vectors_bad_encodings(backend: Backend, name: str) -> None:
    public_key = bytes.fromhex(BAD_KEYS[name])
    with pytest.raises(InvalidBlsKey):
        bls.key_validate(public_key, backend)
    assert not bls.verify(public_key, ZEROS, IDENTITY_SIGNATURE, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(BAD_SIGNATURES))
def test_bad_signature_encodings_are_refused(backend: Backend, name: str) -> None:
    signature = bytes.fromhex(BAD_SIGNATURES[name])
    assert not backend.signature_valid(signature)
    with pytest.raises(InvalidSignature):
        bls.aggregate([signature], backend)
    if backend is FAST:  # the reference's verify takes ~0.3 s a call
        assert not bls.verify(PUBLIC_KEYS[0], ZEROS, signature, backend)


def test_wrong_lengths_are_refused_before_any_backend_sees_them() -> None:
    with pytest.raises(InvalidBlsKey):
        bls.key_validate(PUBLIC_KEYS[0] + b"\x00")
    with pytest.raises(InvalidBlsKey):
        bls.key_validate(PUBLIC_KEYS[0][:-1])
    signature = bytes.fromhex(SIGN_VECTORS[0][2])
    assert bls.verify(PUBLIC_KEYS[0], ZEROS, signature)
    assert not bls.verify(PUBLIC_KEYS[0], ZEROS, signature + b"\x00")
    assert not bls.verify(PUBLIC_KEYS[0][:-1], ZEROS, signature)
    assert not bls.fast_aggregate_verify([PUBLIC_KEYS[0] + b"\x00"], ZEROS, signature)
    with pytest.raises(InvalidSignature):
        bls.aggregate([signature[:-1]])
    with pytest.raises(InvalidSignature):
        bls.aggregate([])


# The two backends: the same bytes and the same verdicts on random keys and messages.


@FEW
@given(secrets, secrets, messages)
def test_both_backends_give_the_same_bytes(secret: int, other: int, message: bytes) -> None:
    fast, ref = key_of(secret, FAST), key_of(secret, REFERENCE)
    assert fast == ref and len(fast.public_key) == bls.PUBLIC_KEY_SIZE
    signature = bls.sign(fast, message, FAST)
    assert signature == bls.sign(ref, message, REFERENCE)
    assert bls.prove_possession(fast, FAST) == bls.prove_possession(ref, REFERENCE)
    pair = [signature, bls.sign(key_of(other), message)]
    assert bls.aggregate(pair, FAST) == bls.aggregate(pair, REFERENCE)


@FEW
@given(secrets, secrets, messages, messages)
def test_both_backends_give_the_same_verdicts(
    secret: int, other: int, message: bytes, another: bytes
) -> None:
    assume(secret != other)
    key, stranger = key_of(secret), key_of(other)
    signature = bls.sign(key, message)
    cases = [
        (key.public_key, message, signature),  # valid
        (key.public_key, message, flip_last_bit(signature)),  # tampered bytes
        (key.public_key, message, bls.sign(key, message + b"!")),  # a valid point, wrong msg
        (key.public_key, another + b"?", signature),  # tampered message
        (stranger.public_key, message, signature),  # mismatched key
    ]
    for case in cases:
        assert bls.verify(*case, FAST) == bls.verify(*case, REFERENCE), case
    assert bls.verify(*cases[0]) and not any(bls.verify(*case) for case in cases[1:])
    keys = [key.public_key, stranger.public_key]
    both = bls.aggregate([signature, bls.sign(stranger, message)])
    for candidate in (both, signature, flip_last_bit(both)):
        verdict = bls.fast_aggregate_verify(keys, message, candidate, FAST)
        assert verdict == bls.fast_aggregate_verify(keys, message, candidate, REFERENCE)
        assert verdict == (candidate == both)


@FEW
@given(secrets, secrets)
def test_both_backends_judge_proofs_of_possession_alike(secret: int, other: int) -> None:
    assume(secret != other)
    key, stranger = key_of(secret), key_of(other)
    proof = bls.prove_possession(key)
    for public_key, candidate, expected in [
        (key.public_key, proof, True),
        (stranger.public_key, proof, False),  # someone else's proof
        (key.public_key, bls.sign(key, key.public_key), False),  # a plain signature of the key
    ]:
        assert bls.verify_possession(public_key, candidate, FAST) is expected
        assert bls.verify_possession(public_key, candidate, REFERENCE) is expected


# Keys: KeyGen, stored secrets, what a key shows.


@settings(max_examples=20, deadline=None)
@given(st.binary(min_size=32, max_size=80))
def test_keygen_is_the_ietf_keygen_of_py_ecc(ikm: bytes) -> None:
    from py_ecc.bls.ciphersuites import G2ProofOfPossession

    assert keygen_secret(ikm) == G2ProofOfPossession.KeyGen(ikm)


def test_keygen_is_deterministic_and_keys_round_trip_through_their_secret() -> None:
    ikm = bytes(range(32))
    key = bls.bls_keygen(ikm)
    assert key == bls.bls_keygen(ikm) != bls.bls_keygen(bytes(range(1, 33)))
    assert bls.bls_key_from_secret(key.secret) == key
    bls.key_validate(key.public_key)
    with pytest.raises(bls.BadBlsSecret):
        bls.bls_keygen(bytes(31))
    for bad in (bytes(32), CURVE_ORDER.to_bytes(32, "big"), b"\x01" * 31, b"\x01" * 33):
        with pytest.raises(bls.BadBlsSecret):
            bls.bls_key_from_secret(bad)


def test_a_key_does_not_show_its_secret() -> None:
    key = bls.bls_keygen(b"\x07" * 32)
    assert repr(key.secret) not in repr(key) and repr(key.public_key) in repr(key)


def test_invalid_bls_key_is_a_rule_violation() -> None:
    assert issubclass(InvalidBlsKey, RuleViolation)


# The identity: a hand-built pairing check accepts it for any message.


@settings(max_examples=10, deadline=None)
@given(messages)
def test_the_identity_key_and_signature_pass_a_bare_pairing_check_for_any_message(
    message: bytes,
) -> None:
    """Why the identity must be refused: e(0, H(m)) = 1 = e(g1, 0) whatever m is."""
    hashed = G2Point.hash_to_curve(message, SIGNATURE_DST)
    assert GT.pairing_check([G1Point.identity(), -G1Point()], [hashed, G2Point.identity()])
    assert not bls.verify(IDENTITY_KEY, message, IDENTITY_SIGNATURE)
    assert not bls.fast_aggregate_verify([IDENTITY_KEY], message, IDENTITY_SIGNATURE)
    assert not bls.verify_possession(IDENTITY_KEY, IDENTITY_SIGNATURE)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_identity_is_refused_by_every_path(backend: Backend) -> None:
    with pytest.raises(InvalidBlsKey):
        bls.key_validate(IDENTITY_KEY, backend)
    for message in (b"", ZEROS, b"any message at all"):
        assert not bls.verify(IDENTITY_KEY, message, IDENTITY_SIGNATURE, backend)
        assert not bls.fast_aggregate_verify([IDENTITY_KEY], message, IDENTITY_SIGNATURE, backend)
    assert not bls.verify(PUBLIC_KEYS[0], ZEROS, IDENTITY_SIGNATURE, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keys_that_cancel_out_are_refused(backend: Backend) -> None:
    """pk and -pk are both valid keys; their sum is the identity, which would accept the
    identity signature for any message. FastAggregateVerify refuses an identity sum."""
    negated = (-G1Point.from_compressed_bytes(PUBLIC_KEYS[0])).to_compressed_bytes()
    bls.key_validate(negated, backend)
    keys = [PUBLIC_KEYS[0], negated]
    assert not bls.fast_aggregate_verify(keys, ZEROS, IDENTITY_SIGNATURE, backend)


# Points outside the prime-order subgroup.


def g1_point_off_the_subgroup() -> bytes:
    """A compressed G1 point on y^2 = x^3 + 4 but outside the subgroup of order r: the first
    x >= 1 with x^3 + 4 a square mod p. E(Fp) has h*r points (cofactor h ~ 2^125), so a point
    found this way lies in the subgroup with probability ~1/h; the test checks it anyway.
    (x = 0 gives (0, 2), a point of order 3: the vectors' 'infinity_with_false_b_flag'.)"""
    p = field_modulus
    x = 1
    while pow(x**3 + G1_B.n, (p - 1) // 2, p) != 1:
        x += 1
    y = pow(x**3 + G1_B.n, (p + 1) // 4, p)  # p = 3 mod 4: this is a square root
    sign_flag = 0x20 if y > p - y else 0
    encoded = i2osp(x, 48)
    return bytes([encoded[0] | 0x80 | sign_flag]) + encoded[1:]


def g2_point_off_the_subgroup() -> bytes:
    """The same for G2 (over Fp2, cofactor ~2^380): the first real x >= 1 for which py_ecc's
    decompression (which checks the curve, not the subgroup) finds a y."""
    for x in range(1, 1000):
        encoded = bytes([0x80]) + bytes(47) + i2osp(x, 48)  # x = x + 0*i, smaller y
        try:
            signature_to_G2(BLSSignature(encoded))
        except ValueError:
            continue
        return encoded
    raise AssertionError("no x found")


def test_the_constructed_points_are_on_the_curve_and_outside_the_subgroup() -> None:
    point = pubkey_to_G1(BLSPubkey(g1_point_off_the_subgroup()))
    assert is_on_curve(point, G1_B) and not subgroup_check(point)
    assert not is_inf(multiply(point, CURVE_ORDER)) and normalize(point)[0].n != 0
    twisted = signature_to_G2(BLSSignature(g2_point_off_the_subgroup()))
    assert is_on_curve(twisted, G2_B) and not subgroup_check(twisted)
    # arkworks' unchecked decoder takes both; its checked one refuses them.
    assert not G1Point.from_compressed_bytes_unchecked(g1_point_off_the_subgroup()).is_in_subgroup()
    assert not G2Point.from_compressed_bytes_unchecked(g2_point_off_the_subgroup()).is_in_subgroup()


@pytest.mark.parametrize("backend", BACKENDS)
def test_points_outside_the_subgroup_are_refused(backend: Backend) -> None:
    off_g1, off_g2 = g1_point_off_the_subgroup(), g2_point_off_the_subgroup()
    with pytest.raises(InvalidBlsKey):
        bls.key_validate(off_g1, backend)
    signature = bytes.fromhex(SIGN_VECTORS[0][2])
    assert not bls.verify(off_g1, ZEROS, signature, backend)
    assert not bls.fast_aggregate_verify([PUBLIC_KEYS[0], off_g1], ZEROS, signature, backend)
    assert not bls.verify_possession(off_g1, signature, backend)
    assert not backend.signature_valid(off_g2)
    with pytest.raises(InvalidSignature):
        bls.aggregate([signature, off_g2], backend)
    assert not bls.verify(PUBLIC_KEYS[0], ZEROS, off_g2, backend)


# The rogue-key attack, and the proof of possession that stops it.


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rogue_key_forges_an_aggregate_unless_possession_is_proven(backend: Backend) -> None:
    """The attacker knows the honest key pk_h, picks a secret a and publishes
    pk_r = g1^a - pk_h. The sum pk_h + pk_r is g1^a, so the attacker's lone signature passes
    FastAggregateVerify as if the honest validator had signed too. pk_r is a perfectly valid
    point; only the proof of possession, which needs pk_r's secret, refuses it."""
    honest, attacker = key_of(SECRETS[0]), key_of(SECRETS[1])
    rogue = (
        G1Point.from_compressed_bytes(attacker.public_key)
        - G1Point.from_compressed_bytes(honest.public_key)
    ).to_compressed_bytes()
    bls.key_validate(rogue, backend)
    message = b"block 7 is final"
    forged = bls.sign(attacker, message)  # the honest key never signed this
    assert bls.fast_aggregate_verify([honest.public_key, rogue], message, forged, backend)
    # The attacker's best attempts at a proof of possession for the rogue key:
    assert not bls.verify_possession(rogue, bls.prove_possession(attacker), backend)
    assert not bls.verify_possession(rogue, bls.sign(attacker, rogue), backend)
    assert bls.verify_possession(honest.public_key, bls.prove_possession(honest), backend)


# The fast backend's cache of decoded keys.


def test_decoded_public_keys_are_cached_and_the_cache_is_bounded() -> None:
    key = key_of(12345)
    public_key_point(key.public_key)
    hits = public_key_point.cache_info().hits
    assert bls.verify(key.public_key, b"m", bls.sign(key, b"m"))
    assert public_key_point.cache_info().hits == hits + 1
    assert public_key_point.cache_info().maxsize is not None
