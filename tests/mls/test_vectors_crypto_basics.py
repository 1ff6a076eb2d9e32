"""crypto-basics.json: RefHash, ExpandWithLabel, DeriveSecret, DeriveTreeSecret, Sign/Encrypt
WithLabel, every check of every suite-1 entry."""

from __future__ import annotations

from typing import Any

from sottovoce.mls._suite import CipherSuite, get_suite, ref_hash_input

from .vectors import hexb, load, split_by_suite, summary

FILE = "crypto-basics.json"


def check_case(suite: CipherSuite, case: dict[str, Any]) -> None:
    ref = case["ref_hash"]
    # The vector's label is RefHash's verbatim label; ``ref_hash`` adds the "MLS 1.0 " prefix.
    assert suite.hash(ref_hash_input(ref["label"].encode(), hexb(ref["value"]))) == hexb(
        ref["out"]
    ), "ref_hash"

    ewl = case["expand_with_label"]
    out = suite.expand_with_label(
        hexb(ewl["secret"]), ewl["label"].encode(), hexb(ewl["context"]), ewl["length"]
    )
    assert out == hexb(ewl["out"]), "expand_with_label"

    ds = case["derive_secret"]
    assert suite.derive_secret(hexb(ds["secret"]), ds["label"].encode()) == hexb(ds["out"]), (
        "derive_secret"
    )

    dts = case["derive_tree_secret"]
    out = suite.derive_tree_secret(
        hexb(dts["secret"]), dts["label"].encode(), dts["generation"], dts["length"]
    )
    assert out == hexb(dts["out"]), "derive_tree_secret"

    swl = case["sign_with_label"]
    label, content, pub = swl["label"].encode(), hexb(swl["content"]), hexb(swl["pub"])
    assert suite.verify_with_label(pub, label, content, hexb(swl["signature"])), "verify given"
    signature = suite.sign_with_label(hexb(swl["priv"]), label, content)
    assert suite.verify_with_label(pub, label, content, signature), "verify own signature"

    ewl = case["encrypt_with_label"]
    priv, label, context = hexb(ewl["priv"]), ewl["label"].encode(), hexb(ewl["context"])
    plaintext = hexb(ewl["plaintext"])
    given = suite.decrypt_with_label(
        priv, label, context, hexb(ewl["kem_output"]), hexb(ewl["ciphertext"])
    )
    assert given == plaintext, "decrypt given"
    kem_output, ciphertext = suite.encrypt_with_label(hexb(ewl["pub"]), label, context, plaintext)
    own = suite.decrypt_with_label(priv, label, context, kem_output, ciphertext)
    assert own == plaintext, "decrypt own encryption"


def test_crypto_basics_vectors_pass_for_suite_1() -> None:
    cases, skipped = split_by_suite(load(FILE))
    assert cases, f"{FILE} has no suite-1 entries"
    for case in cases:
        check_case(get_suite(case["cipher_suite"]), case)
    print(summary(FILE, len(cases), skipped))
