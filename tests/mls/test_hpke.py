"""HPKE as MLS uses it: DeriveKeyPair (RFC 9180 section 7.1.3) and Encrypt/DecryptWithLabel."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.mls._suite import get_suite
from sottovoce.mls.errors import CryptoError, UnsupportedCipherSuite

from .vectors import hexb

SUITE = get_suite(1)

# RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, Base mode.
RFC9180_A1_KEY_PAIRS = [
    pytest.param(
        "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
        "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
        "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
        id="ephemeral",
    ),
    pytest.param(
        "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
        "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
        "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
        id="recipient",
    ),
]


@pytest.mark.parametrize(("ikm", "sk", "pk"), RFC9180_A1_KEY_PAIRS)
def test_derive_key_pair_matches_rfc9180_appendix_a1(ikm: str, sk: str, pk: str) -> None:
    assert SUITE.derive_key_pair(hexb(ikm)) == (hexb(sk), hexb(pk))


@pytest.mark.parametrize(("ikm", "sk", "pk"), RFC9180_A1_KEY_PAIRS)
def test_public_key_of_derived_private_key_matches_rfc9180(ikm: str, sk: str, pk: str) -> None:
    assert SUITE.public_key(hexb(sk)) == hexb(pk)


@given(plaintext=st.binary(max_size=300), context=st.binary(max_size=64))
def test_encrypt_with_label_round_trips(plaintext: bytes, context: bytes) -> None:
    priv, pub = SUITE.derive_key_pair(b"\x01" * 32)
    kem_output, ciphertext = SUITE.encrypt_with_label(pub, b"Welcome", context, plaintext)
    assert len(kem_output) == 32
    assert SUITE.decrypt_with_label(priv, b"Welcome", context, kem_output, ciphertext) == plaintext


def test_decrypt_with_label_rejects_another_label() -> None:
    priv, pub = SUITE.generate_hpke_key_pair()
    kem_output, ciphertext = SUITE.encrypt_with_label(pub, b"UpdatePathNode", b"ctx", b"secret")
    with pytest.raises(CryptoError):
        SUITE.decrypt_with_label(priv, b"Welcome", b"ctx", kem_output, ciphertext)


def test_decrypt_with_label_rejects_another_context() -> None:
    priv, pub = SUITE.generate_hpke_key_pair()
    kem_output, ciphertext = SUITE.encrypt_with_label(pub, b"Welcome", b"ctx", b"secret")
    with pytest.raises(CryptoError):
        SUITE.decrypt_with_label(priv, b"Welcome", b"other", kem_output, ciphertext)


def test_decrypt_with_label_rejects_another_private_key() -> None:
    _, pub = SUITE.generate_hpke_key_pair()
    wrong_priv, _ = SUITE.generate_hpke_key_pair()
    kem_output, ciphertext = SUITE.encrypt_with_label(pub, b"Welcome", b"", b"secret")
    with pytest.raises(CryptoError):
        SUITE.decrypt_with_label(wrong_priv, b"Welcome", b"", kem_output, ciphertext)


def test_decrypt_with_label_rejects_flipped_ciphertext_bit() -> None:
    priv, pub = SUITE.generate_hpke_key_pair()
    kem_output, ciphertext = SUITE.encrypt_with_label(pub, b"Welcome", b"", b"secret")
    tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    with pytest.raises(CryptoError):
        SUITE.decrypt_with_label(priv, b"Welcome", b"", kem_output, tampered)


def test_decrypt_with_label_rejects_truncated_kem_output() -> None:
    priv, pub = SUITE.generate_hpke_key_pair()
    kem_output, ciphertext = SUITE.encrypt_with_label(pub, b"Welcome", b"", b"secret")
    with pytest.raises(CryptoError):
        SUITE.decrypt_with_label(priv, b"Welcome", b"", kem_output[:-1], ciphertext)


def test_encrypt_with_label_rejects_malformed_public_key() -> None:
    with pytest.raises(CryptoError):
        SUITE.encrypt_with_label(b"\x00" * 31, b"Welcome", b"", b"secret")


def test_generated_key_pairs_are_consistent() -> None:
    priv, pub = SUITE.generate_hpke_key_pair()
    assert SUITE.public_key(priv) == pub
    sig_priv, sig_pub = SUITE.generate_signature_key_pair()
    assert SUITE.signature_public_key(sig_priv) == sig_pub
    signature = SUITE.sign_with_label(sig_priv, b"LeafNodeTBS", b"content")
    assert SUITE.verify_with_label(sig_pub, b"LeafNodeTBS", b"content", signature)
    assert not SUITE.verify_with_label(sig_pub, b"KeyPackageTBS", b"content", signature)


def test_unknown_cipher_suite_is_refused() -> None:
    with pytest.raises(UnsupportedCipherSuite):
        get_suite(0x7777)
