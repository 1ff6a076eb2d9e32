"""Device linking as a flow between two signed-in devices of one user (the payload and bundle
formats are in ``linking.py``).

On the NEW device (signed in, no identity key; ``RoomCrypto.start`` raised ``DeviceNotLinked``)::

    request = LinkRequest.generate(session.device_id)
    show(request.payload)                              # text or QR code, screen to screen
    rooms = await link_this_device(crypto, sdk, request, within=300)

On an EXISTING device (started ``RoomCrypto``)::

    await approve_link(crypto, payload)

The existing device sends the identity key only to a device that the server lists as one of the
same account's signed-in devices, sealed to the key in the payload. The new device accepts a
bundle only from its own user and only if the identity key in it is the one that certifies the
user's devices in the key directory; then it certifies itself, publishes its keys and joins every
room its user is joined to by external commit.
"""

from __future__ import annotations

import asyncio

from sottovoce.client.e2ee import RoomCrypto, published_identity_keys
from sottovoce.client.e2ee_errors import LinkingError, LinkRejected
from sottovoce.client.linking import (
    LinkedIdentity,
    LinkRequest,
    LinkTarget,
    parse_link_payload,
    seal_link_bundle,
)
from sottovoce.client.sdk import SottoClient

LINK_KIND = "sotto.link"
POLL_SECONDS = 0.5
MAILBOX_PAGE = 100


class LinkTimeout(LinkingError):
    """No link bundle reached this device in time: approve the payload on another device."""

    code = "link_timeout"


async def receive_identity(
    sdk: SottoClient, request: LinkRequest, *, within: float
) -> LinkedIdentity:
    """Wait (at most ``within`` seconds) for the bundle sealed to ``request`` in this device's
    mailbox; the identity in it, checked against the key directory."""
    session = sdk.session
    if session is None:
        raise LinkingError("sign in on the new device before linking it")
    published = await published_identity_keys(sdk, session.user_id, other_than=session.device_id)
    if len(published) != 1:
        raise LinkingError(
            f"the key directory holds no single identity key for {session.user_id}: there is "
            "no device to link to (or the server is lying about them)"
        )
    expected = published.pop()
    try:
        async with asyncio.timeout(within):
            return await _await_bundle(sdk, request, session.user_id, expected)
    except TimeoutError:
        raise LinkTimeout(
            f"no device approved the link within {within:g} s; run 'sotto link approve "
            "<payload>' on another device, then link again"
        ) from None


async def _await_bundle(
    sdk: SottoClient, request: LinkRequest, user_id: str, expected: bytes
) -> LinkedIdentity:
    after = 0
    while True:
        mails, _ = await sdk.mailbox(after=after, limit=MAILBOX_PAGE)
        for mail in mails:
            after = mail.id
            if mail.kind != LINK_KIND or mail.sender != user_id:
                continue
            try:
                linked = request.open(mail.body, expected_identity_key=expected)
            except LinkRejected:
                continue  # an old or forged bundle: keep waiting for the real one
            if linked.user_id != user_id:
                continue
            # Nothing before it is of use: an unlinked device has published no key packages,
            # so no Welcome can be waiting for it.
            await sdk.ack_mailbox(mail.id)
            return linked
        if not mails:
            await asyncio.sleep(POLL_SECONDS)


async def link_this_device(
    crypto: RoomCrypto, sdk: SottoClient, request: LinkRequest, *, within: float
) -> list[str]:
    """The new device's side, to the end: receive the identity key, certify this device and
    publish its keys, join every room of the user. The rooms joined."""
    linked = await receive_identity(sdk, request, within=within)
    crypto.adopt_identity(linked.identity)
    await crypto.start(sdk)
    return await crypto.join_rooms()


async def approve_link(crypto: RoomCrypto, payload: str) -> LinkTarget:
    """The existing device's side: seal the identity key to the device that showed ``payload``
    and send it to that device's mailbox. Refused unless that device is one of this account's
    signed-in devices."""
    target = parse_link_payload(payload)
    sdk = crypto.sdk
    own = crypto.device.certificate
    if target.device_id == own.device_id:
        raise LinkingError("this payload is this very device's: run 'sotto link' on the new one")
    if target.device_id not in {d.device_id for d in await sdk.devices()}:
        raise LinkingError(
            f"device {target.device_id} is not signed in to {own.user_id}: sign in on the new "
            "device first, and check that you typed the payload it shows"
        )
    bundle = seal_link_bundle(target, own.user_id, crypto.identity)
    await sdk.send_to_devices([(own.user_id, target.device_id, LINK_KIND, bundle)])
    return target


__all__ = [
    "LINK_KIND",
    "LinkTimeout",
    "approve_link",
    "link_this_device",
    "receive_identity",
]
