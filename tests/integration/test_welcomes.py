"""A commit and the Welcomes to the devices it adds are stored in one transaction: both or neither.

Real MLS messages (``sottovoce.mls``) through a real server on SQLite and PostgreSQL; the server
accepts only MLS bodies, as it does by default.
"""

from __future__ import annotations

import secrets

from sottovoce.client import SottoClient
from sottovoce.mls import Group, GroupConfig, accept_any_credential, generate_key_package
from tests.integration.conftest import PersonFactory
from tests.integration.harness import JSON, Person, ServerProcess, b64, http_session, unb64


def new_group(room_id: str) -> Group:
    """A one-member group of the room at epoch 0, as its creator's device starts it."""
    config = GroupConfig(accept_any_credential)
    return Group.create(room_id.encode(), generate_key_package(b"alice"), config)


def adding(room_id: str, count: int) -> tuple[bytes, bytes]:
    """An epoch-0 commit adding ``count`` devices, and its Welcome."""
    packages = [generate_key_package(f"d{i}".encode()).key_package for i in range(count)]
    out = new_group(room_id).commit(add=packages)
    assert out.welcome is not None
    return out.message, out.welcome


def welcome_to(person: Person, welcome: bytes, device_id: str | None = None) -> JSON:
    return {
        "user_id": person.user_id,
        "device_id": device_id or person.device_id,
        "body": b64(welcome),
    }


async def post_commit(
    sender: Person, room_id: str, commit: bytes, welcomes: list[JSON], client_id: str = "add-1"
) -> tuple[int, str | None, JSON]:
    reply = await sender.call(
        "POST",
        f"/rooms/{room_id}/events",
        {"client_id": client_id, "body": b64(commit), "welcomes": welcomes},
    )
    return reply.status, reply.code, reply.body


async def mailbox(person: Person, token: str | None = None) -> list[JSON]:
    messages: list[JSON] = (await person.call("GET", "/mailbox", token=token)).expect(200)[
        "messages"
    ]
    return messages


async def messages_in(person: Person, room_id: str) -> list[bytes]:
    return [unb64(e["body"]) for e in await person.history(room_id) if e["kind"] == "message"]


async def test_an_accepted_commit_delivers_its_welcomes_and_a_retry_duplicates_nothing(
    any_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob, carol = [await people(any_server) for _ in range(3)]
    room = await alice.create_room(bob, carol)
    second = await bob.login("second")
    live = await bob.connect(token=second["access_token"])
    commit, welcome = adding(room, 3)
    welcomes = [
        welcome_to(bob, welcome),
        welcome_to(bob, welcome, second["device_id"]),
        welcome_to(carol, welcome),
    ]
    status, code, answer = await post_commit(alice, room, commit, welcomes)
    assert (status, code, answer["duplicate"]) == (200, None, False), answer
    # Bob is a member already: his device gets the commit, then the Welcome.
    pushed = await live.wait_for(
        lambda f: f["type"] == "mail", skip=lambda f: f["type"] in ("presence", "event")
    )
    assert (pushed["mail"]["kind"], unb64(pushed["mail"]["body"])) == ("mls.welcome", welcome)
    for reader, token in ((bob, None), (bob, second["access_token"]), (carol, None)):
        [mail] = await mailbox(reader, token)
        assert (mail["kind"], mail["sender"], mail["sender_device"]) == (
            "mls.welcome",
            alice.user_id,
            alice.device_id,
        )
        assert unb64(mail["body"]) == welcome

    status, code, again = await post_commit(alice, room, commit, welcomes)
    assert (status, code, again["duplicate"]) == (200, None, True), again
    assert again["event"]["seq"] == answer["event"]["seq"]
    for reader, token in ((bob, None), (bob, second["access_token"]), (carol, None)):
        assert len(await mailbox(reader, token)) == 1
    assert await messages_in(alice, room) == [commit]


async def test_a_stale_commit_stores_no_welcome(
    any_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(any_server), await people(any_server)
    room = await alice.create_room(bob)
    winner = new_group(room).commit().message
    assert (await alice.send(room, winner))["event"]["kind"] == "message"
    commit, welcome = adding(room, 1)
    status, code, answer = await post_commit(alice, room, commit, [welcome_to(bob, welcome)])
    assert (status, code, answer["error"]["epoch"]) == (409, "stale_epoch", 1), answer
    assert await mailbox(bob) == []
    assert await messages_in(alice, room) == [winner]


async def test_bad_welcome_targets_and_bodies_are_refused_and_store_nothing(
    any_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob, stranger = [await people(any_server) for _ in range(3)]
    room = await alice.create_room(bob)
    commit, welcome = adding(room, 1)
    ghost = "AAAAAAAAAAAA"
    refused = [
        ([welcome_to(stranger, welcome)], 403, "not_member"),
        ([welcome_to(bob, welcome, ghost)], 404, "not_found"),
        ([welcome_to(bob, welcome, stranger.device_id)], 404, "not_found"),
        ([welcome_to(bob, welcome), welcome_to(bob, welcome)], 400, "bad_request"),
        ([welcome_to(bob, commit)], 400, "bad_request"),
        ([welcome_to(bob, b"not mls")], 400, "bad_request"),
        ([{"user_id": bob.user_id, "body": b64(welcome)}], 400, "bad_request"),
        ([{**welcome_to(bob, welcome), "kind": "other"}], 400, "bad_request"),
        ([welcome_to(bob, welcome)] * 101, 400, "bad_request"),
        ("all of them", 400, "bad_request"),
    ]
    for welcomes, status, code in refused:
        reply = await alice.call(
            "POST",
            f"/rooms/{room}/events",
            {"client_id": secrets.token_hex(4), "body": b64(commit), "welcomes": welcomes},
        )
        assert (reply.status, reply.code) == (status, code), (welcomes, reply.body)
    # Welcomes belong to a commit, not to an application message or proposal.
    application = new_group(room).encrypt(b"hi")
    status, code, answer = await post_commit(alice, room, application, [welcome_to(bob, welcome)])
    assert (status, code) == (400, "bad_request"), answer
    assert await messages_in(alice, room) == []
    assert await mailbox(bob) == [] and await mailbox(stranger) == []
    # Nothing moved the room's epoch: the same commit with a good target is accepted.
    status, code, answer = await post_commit(alice, room, commit, [welcome_to(bob, welcome)])
    assert (status, code) == (200, None), answer


async def test_the_sdk_sends_a_commit_with_its_welcomes(
    any_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(any_server), await people(any_server)
    room = await alice.create_room(bob)
    commit, welcome = adding(room, 1)
    async with http_session() as http, SottoClient(any_server.base_url, http=http) as sdk:
        await sdk.login(alice.username, alice.password)
        welcomes = [(bob.user_id, bob.device_id, welcome)]
        sent = await sdk.send(room, commit, client_id="c", sealed=True, welcomes=welcomes)
        again = await sdk.send(room, commit, client_id="c", sealed=True, welcomes=welcomes)
    assert (sent.duplicate, again.duplicate, again.seq) == (False, True, sent.seq)
    assert [unb64(m["body"]) for m in await mailbox(bob)] == [welcome]
