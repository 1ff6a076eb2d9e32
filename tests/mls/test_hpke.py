"""HPKE as MLS uses it: DeriveKeyPair (RFC 9180 section 7.1.3) and Encrypt/DecryptWithLabel."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.mls._key_schedule import external_init, external_init_secret, external_key_pair
from sottovoce.mls._suite import get_suite
from sottovoce.mls.errors import CryptoError, UnsupportedCipherSuite

from .vectors import hexb

SUITE = get_suite(1)

# RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, Base mode.
# (ikm, sk, pk) of the ephemeral (E) and the recipient (R) key pairs.
A1_E = (
    "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
    "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
    "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
)
A1_R = (
    "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
    "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
    "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
)
RFC9180_A1_KEY_PAIRS = [pytest.param(*A1_E, id="ephemeral"), pytest.param(*A1_R, id="recipient")]


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


# X25519 points of small order (RFC 7748 section 6.1 / the libsodium blocklist), all of which
# give an all-zero shared secret, and their non-canonical aliases.
SMALL_ORDER_X25519 = [
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


@pytest.mark.parametrize("public_key", SMALL_ORDER_X25519, ids=lambda k: k.hex()[:8])
def test_encrypt_with_label_refuses_a_small_order_public_key(public_key: bytes) -> None:
    with pytest.raises(CryptoError):
        SUITE.encrypt_with_label(public_key, b"Welcome", b"", b"secret")


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


# RFC 9180 Appendix A.1.1: the base-mode exporter, with info and exporter contexts from the RFC.
RFC9180_A1_INFO = "4f6465206f6e2061204772656369616e2055726e"
RFC9180_A1_EXPORTS = [
    ("", "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"),
    ("00", "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"),
    ("54657374436f6e74657874", "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931"),
]


@pytest.mark.parametrize(("exporter_context", "exported"), RFC9180_A1_EXPORTS)
def test_export_matches_rfc9180_appendix_a1(exporter_context: str, exported: str) -> None:
    (ikm_e, _, pk_e), (_, sk_r, pk_r) = A1_E, A1_R
    enc, secret = SUITE.hpke_export_sender(
        hexb(pk_r), hexb(RFC9180_A1_INFO), hexb(exporter_context), 32, ephemeral_ikm=hexb(ikm_e)
    )
    assert enc == hexb(pk_e)
    assert secret == hexb(exported)
    received = SUITE.hpke_export_receiver(
        hexb(sk_r), enc, hexb(RFC9180_A1_INFO), hexb(exporter_context), 32
    )
    assert received == hexb(exported)


def test_external_init_gives_joiner_and_members_the_same_init_secret() -> None:
    external_priv, external_pub = external_key_pair(SUITE, b"\x07" * 32)
    kem_output, joiner_view = external_init(SUITE, external_pub)
    assert external_init_secret(SUITE, external_priv, kem_output) == joiner_view
    other_priv, _ = SUITE.generate_hpke_key_pair()
    assert external_init_secret(SUITE, other_priv, kem_output) != joiner_view


def test_export_refuses_a_small_order_public_key() -> None:
    with pytest.raises(CryptoError):
        SUITE.hpke_export_sender(bytes(32), b"", b"", 32)
