"""The key directory hands out each one-time package at most once, even under concurrent claims."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.integration.conftest import PersonFactory
from tests.integration.harness import Person, ServerProcess, b64, unb64


async def upload(person: Person, one_time: list[bytes], last_resort: bytes | None) -> None:
    body: dict[str, object] = {"one_time": [b64(p) for p in one_time]}
    if last_resort is not None:
        body["last_resort"] = b64(last_resort)
    reply = (await person.call("POST", "/keys/packages", body)).expect(200)
    assert reply["one_time_count"] == len(one_time)


async def test_concurrent_claims_hand_out_each_one_time_package_once_then_the_last_resort(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    bob = await people(shared_any_server)
    one_time = [f"one-time-{i}".encode() for i in range(10)]
    await upload(bob, one_time, b"last-resort")
    claimers = [await people(shared_any_server) for _ in range(5)]

    async def claim(claimer: Person) -> tuple[bytes, bool]:
        reply = await claimer.call("POST", "/keys/claim", {"user_id": bob.user_id})
        packages = reply.expect(200)["packages"]
        assert [p["device_id"] for p in packages] == [bob.device_id], packages
        return unb64(packages[0]["package"]), bool(packages[0]["last_resort"])

    results = await asyncio.gather(*(claim(claimers[i % 5]) for i in range(50)))

    handed_out = Counter(package for package, last in results if not last)
    assert set(handed_out) == set(one_time), "every one-time package is handed out"
    assert max(handed_out.values()) == 1, f"handed out twice: {handed_out.most_common(3)}"
    assert [p for p, last in results if last] == [b"last-resort"] * 40
    count = (await bob.call("GET", "/keys/packages/count")).expect(200)
    assert (count["one_time_count"], count["has_last_resort"]) == (0, True)


async def test_claim_returns_one_package_per_device_that_has_any(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    bob, alice = await people(shared_any_server), await people(shared_any_server)
    await upload(bob, [b"phone-1"], None)
    second = await bob.login()
    body = {"one_time": [b64(b"laptop-1")], "last_resort": b64(b"laptop-lr")}
    token = second["access_token"]
    (await bob.call("POST", "/keys/packages", body, token=token)).expect(200)
    third = await bob.login()

    first_claim = (await alice.call("POST", "/keys/claim", {"user_id": bob.user_id})).expect(200)
    got = {p["device_id"]: (unb64(p["package"]), p["last_resort"]) for p in first_claim["packages"]}
    assert got == {bob.device_id: (b"phone-1", False), second["device_id"]: (b"laptop-1", False)}
    assert third["device_id"] not in got

    again = (await alice.call("POST", "/keys/claim", {"user_id": bob.user_id})).expect(200)
    got = {p["device_id"]: (unb64(p["package"]), p["last_resort"]) for p in again["packages"]}
    assert got == {second["device_id"]: (b"laptop-lr", True)}


async def test_device_keys_are_published_and_read_back_opaque(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    bob, alice = await people(shared_any_server), await people(shared_any_server)
    blob = bytes(range(256)) * 4
    reply = await bob.call("PUT", "/keys/device", {"keys": b64(blob)})
    assert reply.status == 204, reply.body
    listed = (await alice.call("GET", f"/keys/{bob.user_id}")).expect(200)
    assert [(d["device_id"], unb64(d["keys"])) for d in listed["devices"]] == [
        (bob.device_id, blob)
    ]


async def test_claim_for_unknown_user_is_not_found(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    alice = await people(shared_any_server)
    reply = await alice.call("POST", "/keys/claim", {"user_id": "@nobody-here:localhost"})
    assert (reply.status, reply.code) == (404, "not_found"), reply.body


async def test_a_revoked_device_leaves_the_directory(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    bob, alice = await people(shared_any_server), await people(shared_any_server)
    lost = await bob.login()
    token = lost["access_token"]
    body = {"one_time": [b64(b"lost-1")], "last_resort": b64(b"lost-lr")}
    (await bob.call("POST", "/keys/packages", body, token=token)).expect(200)
    assert (await bob.call("PUT", "/keys/device", {"keys": b64(b"k")}, token=token)).status == 204
    await upload(bob, [b"kept-1"], None)

    assert (await bob.call("DELETE", f"/devices/{lost['device_id']}")).status == 204

    listed = (await alice.call("GET", f"/keys/{bob.user_id}")).expect(200)
    assert [d["device_id"] for d in listed["devices"]] == [bob.device_id]
    for _ in range(2):
        claim = (await alice.call("POST", "/keys/claim", {"user_id": bob.user_id})).expect(200)
        devices = [p["device_id"] for p in claim["packages"]]
        assert lost["device_id"] not in devices, "a revoked device's package was handed out"
