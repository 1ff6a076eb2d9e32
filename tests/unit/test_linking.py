from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.client.e2ee_errors import InvalidLinkPayload, LinkRejected
from sottovoce.client.identity import IdentityKeyPair
from sottovoce.client.linking import (
    LinkRequest,
    LinkTarget,
    parse_link_payload,
    seal_link_bundle,
)

ALICE = "@alice:example.org"
NEW_DEVICE = "NEWDEVICE001"


def link(identity: IdentityKeyPair) -> tuple[LinkRequest, bytes]:
    request = LinkRequest.generate(NEW_DEVICE)
    bundle = seal_link_bundle(parse_link_payload(request.payload), ALICE, identity)
    return request, bundle


def test_the_new_device_receives_the_users_identity() -> None:
    identity = IdentityKeyPair.generate()
    request, bundle = link(identity)
    linked = request.open(bundle, expected_identity_key=identity.public)
    assert linked.user_id == ALICE
    assert linked.identity == identity


def test_the_payload_is_short_text_naming_the_device_and_its_key() -> None:
    request = LinkRequest.generate(NEW_DEVICE)
    prefix, device_id, key = request.payload.split(":")
    assert (prefix, device_id) == ("sotto-link", NEW_DEVICE)
    assert base64.urlsafe_b64decode(key + "=") == request.public_key
    assert len(request.payload) < 80
    assert parse_link_payload(f"  {request.payload}\n") == LinkTarget(
        NEW_DEVICE, request.public_key
    )


def test_the_bundle_does_not_contain_the_identity_key_in_clear() -> None:
    identity = IdentityKeyPair.generate()
    _, bundle = link(identity)
    assert identity.private not in bundle
    assert ALICE.encode() not in bundle


@settings(max_examples=60)
@given(st.data())
def test_any_change_to_the_bundle_is_rejected(data: st.DataObject) -> None:
    request, bundle = link(IdentityKeyPair.generate())
    position = data.draw(st.integers(0, len(bundle) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = bytearray(bundle)
    tampered[position] ^= flip
    with pytest.raises(LinkRejected):
        request.open(bytes(tampered))


@given(st.data())
def test_truncated_or_extended_bundles_are_rejected(data: st.DataObject) -> None:
    request, bundle = link(IdentityKeyPair.generate())
    cut = data.draw(st.integers(0, len(bundle) - 1))
    for damaged in (bundle[:cut], bundle + data.draw(st.binary(min_size=1, max_size=4))):
        with pytest.raises(LinkRejected):
            request.open(damaged)


def test_another_link_request_cannot_open_the_bundle() -> None:
    _, bundle = link(IdentityKeyPair.generate())
    with pytest.raises(LinkRejected):
        LinkRequest.generate(NEW_DEVICE).open(bundle)


def test_a_bundle_sealed_for_another_device_id_is_rejected() -> None:
    # Same key, another device id: the server delivered it to the wrong device, or lied.
    request = LinkRequest.generate(NEW_DEVICE)
    target = LinkTarget("OTHERDEVICE2", request.public_key)
    bundle = seal_link_bundle(target, ALICE, IdentityKeyPair.generate())
    with pytest.raises(LinkRejected):
        request.open(bundle)


def test_a_bundle_with_an_identity_other_than_the_published_one_is_rejected() -> None:
    # Someone who photographed the payload seals their own identity to the new device.
    request, bundle = link(IdentityKeyPair.generate())
    with pytest.raises(LinkRejected):
        request.open(bundle, expected_identity_key=IdentityKeyPair.generate().public)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sotto-link",
        "sotto-link:NEWDEVICE001",
        "otto-link:NEWDEVICE001:" + "A" * 43,
        "sotto-link:newdevice001:" + "A" * 43,
        "sotto-link:NEWDEVICE00:" + "A" * 43,
        "sotto-link:NEWDEVICE001:" + "A" * 42,
        "sotto-link:NEWDEVICE001:" + "A" * 44,
        "sotto-link:NEWDEVICE001:" + "A" * 42 + "B",  # non-canonical last character
        "sotto-link:NEWDEVICE001:" + "+" * 43,
        "sotto-link:NEWDEVICE001:" + "A" * 43 + ":extra",
    ],
)
def test_malformed_payloads_are_refused(text: str) -> None:
    with pytest.raises(InvalidLinkPayload):
        parse_link_payload(text)


def test_a_link_request_never_shows_its_private_key() -> None:
    request = LinkRequest.generate(NEW_DEVICE)
    assert request.private_key.hex() not in repr(request)


def test_a_small_order_key_in_the_payload_is_refused() -> None:
    target = parse_link_payload("sotto-link:NEWDEVICE001:" + "A" * 43)
    with pytest.raises(InvalidLinkPayload):
        seal_link_bundle(target, ALICE, IdentityKeyPair.generate())
