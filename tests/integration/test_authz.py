"""Who may call what: every HTTP endpoint and WebSocket frame of docs/protocol.md, refused with the
exact status, error code and close code for each kind of caller that must be refused.

Each table is checked whole and reports every mismatch at once, so one run shows the server
engineer the full picture.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
import pytest

from sottovoce.server.gateway import REVOCATION_SWEEP
from tests.integration.conftest import PersonFactory
from tests.integration.harness import (
    FRAME_TIMEOUT,
    JSON,
    PASSWORD,
    Person,
    ServerProcess,
    b64,
    call,
    http_session,
    recv_close,
)

# Transport tests: they store arbitrary bodies, so their servers allow plaintext.
pytestmark = pytest.mark.plaintext

BODY = b64(b"ciphertext")
GHOST_ROOM = "!AAAAAAAAAAAAAAAAAAAAAA:localhost"


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: object = None


@dataclass(frozen=True)
class Targets:
    """Ids a request can name: a room the caller must not reach, another person and their device."""

    room: str
    user: str
    device: str


def private_endpoints(t: Targets) -> list[Case]:
    """Every endpoint that needs a token, with a well-formed body."""
    return [
        Case("POST", "/logout"),
        Case("GET", "/me"),
        Case("GET", "/devices"),
        Case("DELETE", f"/devices/{t.device}"),
        Case("GET", f"/users/{t.user}"),
        Case("POST", "/rooms", {"kind": "group", "name": "n"}),
        Case("GET", "/rooms"),
        Case("GET", f"/rooms/{t.room}"),
        Case("POST", f"/rooms/{t.room}/invite", {"user_id": t.user}),
        Case("POST", f"/rooms/{t.room}/join"),
        Case("POST", f"/rooms/{t.room}/leave"),
        Case("POST", f"/rooms/{t.room}/kick", {"user_id": t.user}),
        Case("POST", f"/rooms/{t.room}/role", {"user_id": t.user, "role": "admin"}),
        Case("POST", f"/rooms/{t.room}/events", {"client_id": "c1", "body": BODY}),
        Case("GET", f"/rooms/{t.room}/events?after=0"),
        Case("GET", f"/rooms/{t.room}/events?before=2"),
        Case(
            "POST",
            "/to_device",
            {"messages": [{"user_id": t.user, "device_id": t.device, "kind": "k", "body": BODY}]},
        ),
        Case("GET", "/mailbox?after=0"),
        Case("POST", "/mailbox/ack", {"up_to": 1}),
        Case("PUT", "/keys/device", {"keys": BODY}),
        Case("POST", "/keys/packages", {"one_time": [BODY], "last_resort": BODY}),
        Case("GET", "/keys/packages/count"),
        Case("GET", f"/keys/{t.user}"),
        Case("POST", "/keys/claim", {"user_id": t.user}),
    ]


async def mismatches(
    http: aiohttp.ClientSession,
    server: ServerProcess,
    token: str | None,
    cases: Sequence[tuple[Case, int, str]],
) -> list[str]:
    found = []
    for case, status, code in cases:
        reply = await call(
            http, case.method, server.api_url + case.path, token=token, json_body=case.body
        )
        if (reply.status, reply.code, bool(reply.message)) != (status, code, True):
            found.append(
                f"{case.method} {case.path}: expected {status} {code}, "
                f"got {reply.status} {reply.body!r}"[:300]
            )
    return found


def report(found: list[str]) -> str:
    return f"{len(found)} endpoint(s) answered wrongly:\n" + "\n".join(found)


async def targets(people: PersonFactory, server: ServerProcess) -> tuple[Person, Person, Targets]:
    """An owner with a room holding one message, and an outsider."""
    owner, outsider = await people(server), await people(server)
    room = await owner.create_room()
    await owner.send(room, b"first")
    return owner, outsider, Targets(room=room, user=owner.user_id, device=owner.device_id)


def forged(token: str) -> str:
    """The same claims with a signature the server never made."""
    head, claims, _ = token.split(".")
    return f"{head}.{claims}.{b64(secrets.token_bytes(32)).rstrip('=')}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(token: str) -> JSON:
    part = token.split(".")[1]
    claims: JSON = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def unsigned(token: str) -> str:
    """The same claims under ``alg: none``: the classic JWT downgrade."""
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{token.split('.')[1]}."


def tampered(token: str) -> str:
    """The original signature over claims that now say the token never expires."""
    head, _, signature = token.split(".")
    claims = {**_claims(token), "exp": 4_000_000_000}
    return f"{head}.{_b64url(json.dumps(claims).encode())}.{signature}"


BAD_AUTHORIZATION: list[tuple[str, Callable[[str], dict[str, str]]]] = [
    ("no header", lambda _: {}),
    ("garbage bearer", lambda _: {"Authorization": "Bearer not-a-jwt"}),
    ("wrong scheme", lambda t: {"Authorization": f"Basic {t}"}),
    ("forged signature", lambda t: {"Authorization": f"Bearer {forged(t)}"}),
    ("empty bearer", lambda _: {"Authorization": "Bearer "}),
    ("alg none", lambda t: {"Authorization": f"Bearer {unsigned(t)}"}),
    ("tampered claims", lambda t: {"Authorization": f"Bearer {tampered(t)}"}),
]


async def test_every_private_endpoint_refuses_a_missing_or_bad_token(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner, _, t = await targets(people, shared_server)
    found = []
    for label, headers in BAD_AUTHORIZATION:
        # A fresh address per variant keeps the per-IP limit out of this table.
        async with http_session() as http:
            for case in private_endpoints(t):
                reply = await call(
                    http,
                    case.method,
                    shared_server.api_url + case.path,
                    json_body=case.body,
                    headers=headers(owner.token),
                )
                if (reply.status, reply.code) != (401, "unauthenticated"):
                    found.append(
                        f"{label}: {case.method} {case.path}: got {reply.status} {reply.body!r}"[
                            :300
                        ]
                    )
    assert not found, report(found)


async def test_public_endpoints_need_no_token(shared_server: ServerProcess) -> None:
    async with http_session() as http:
        for path in ("/healthz", "/readyz", "/metrics"):
            reply = await call(http, "GET", shared_server.base_url + path)
            assert reply.status == 200, f"{path}: {reply.status} {reply.body!r}"
        name = f"pub{secrets.token_hex(4)}"
        registered = await call(
            http,
            "POST",
            f"{shared_server.api_url}/register",
            json_body={"username": name, "password": PASSWORD},
        )
        session = registered.expect(201)
        logged_in = await call(
            http,
            "POST",
            f"{shared_server.api_url}/login",
            json_body={"username": name, "password": PASSWORD},
        )
        assert logged_in.expect(200)["user_id"] == session["user_id"]
        refreshed = await call(
            http,
            "POST",
            f"{shared_server.api_url}/refresh",
            json_body={"refresh_token": session["refresh_token"]},
        )
        assert refreshed.expect(200)["device_id"] == session["device_id"]


async def test_unknown_route_is_not_found(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    reply = await person.call("GET", "/no/such/route")
    assert (reply.status, reply.code) == (404, "not_found"), reply.body


async def test_non_member_is_refused_every_room_action(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner, outsider, t = await targets(people, shared_server)
    room = t.room
    cases = [
        (Case("GET", f"/rooms/{room}"), 403, "not_member"),
        (Case("POST", f"/rooms/{room}/invite", {"user_id": outsider.user_id}), 403, "not_member"),
        (Case("POST", f"/rooms/{room}/join"), 403, "not_invited"),
        (Case("POST", f"/rooms/{room}/leave"), 403, "not_member"),
        (Case("POST", f"/rooms/{room}/kick", {"user_id": owner.user_id}), 403, "not_member"),
        (
            Case("POST", f"/rooms/{room}/role", {"user_id": outsider.user_id, "role": "admin"}),
            403,
            "not_member",
        ),
        (
            Case("POST", f"/rooms/{room}/events", {"client_id": "x", "body": BODY}),
            403,
            "not_member",
        ),
        (Case("GET", f"/rooms/{room}/events?after=0"), 403, "not_member"),
        (Case("GET", f"/rooms/{room}/events?before=2"), 403, "not_member"),
        # Someone else's device is not one of "the caller's devices".
        (Case("DELETE", f"/devices/{owner.device_id}"), 404, "not_found"),
    ]
    found = await mismatches(outsider.http, shared_server, outsider.token, cases)
    assert not found, report(found)
    # Nothing the outsider tried changed the room.
    events = await owner.history(room)
    assert [e["kind"] for e in events][-1:] == ["message"]
    assert all(e["sender"] == owner.user_id for e in events)
    assert (await owner.call("GET", "/me")).status == 200


async def test_invited_but_not_joined_user_cannot_send_or_read(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner, invitee = await people(shared_server), await people(shared_server)
    room = await owner.create_room()
    (await owner.call("POST", f"/rooms/{room}/invite", {"user_id": invitee.user_id})).expect(200)
    cases = [
        (
            Case("POST", f"/rooms/{room}/events", {"client_id": "x", "body": BODY}),
            403,
            "not_member",
        ),
        (Case("GET", f"/rooms/{room}/events?after=0"), 403, "not_member"),
        (Case("POST", f"/rooms/{room}/invite", {"user_id": owner.user_id}), 403, "not_member"),
    ]
    found = await mismatches(invitee.http, shared_server, invitee.token, cases)
    assert not found, report(found)


async def test_unknown_room_and_user_are_not_found(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    ghost_user = "@nobody-here:localhost"
    cases = [
        (Case("GET", f"/rooms/{GHOST_ROOM}"), 404, "not_found"),
        (Case("POST", f"/rooms/{GHOST_ROOM}/join"), 404, "not_found"),
        (Case("GET", f"/users/{ghost_user}"), 404, "not_found"),
        (Case("DELETE", "/devices/AAAAAAAAAAAA"), 404, "not_found"),
    ]
    found = await mismatches(person.http, shared_server, person.token, cases)
    assert not found, report(found)


async def test_only_owner_and_admins_may_moderate(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner = await people(shared_server)
    admin, admin2, member, member2, victim = [await people(shared_server) for _ in range(5)]
    room = await owner.create_room(admin, admin2, member, member2, victim)
    for promoted in (admin, admin2):
        body = {"user_id": promoted.user_id, "role": "admin"}
        (await owner.call("POST", f"/rooms/{room}/role", body)).expect(200)

    def kick(who: Person) -> Case:
        return Case("POST", f"/rooms/{room}/kick", {"user_id": who.user_id})

    def role(who: Person, to: str) -> Case:
        return Case("POST", f"/rooms/{room}/role", {"user_id": who.user_id, "role": to})

    refused: list[tuple[Person, list[tuple[Case, int, str]]]] = [
        (
            member,
            [
                (kick(member2), 403, "forbidden"),
                (kick(owner), 403, "forbidden"),
                (kick(admin), 403, "forbidden"),
                (role(member2, "admin"), 403, "forbidden"),
                (role(member, "admin"), 403, "forbidden"),
            ],
        ),
        (
            admin,
            [
                (kick(owner), 403, "forbidden"),
                (kick(admin2), 403, "forbidden"),
                (role(member, "admin"), 403, "forbidden"),
                (role(admin2, "member"), 403, "forbidden"),
            ],
        ),
    ]
    found = []
    for caller, cases in refused:
        found += await mismatches(caller.http, shared_server, caller.token, cases)
    assert not found, report(found)

    # The allowed actions, so that the refusals above are about roles and not a broken endpoint.
    newcomer = await people(shared_server)
    invite = {"user_id": newcomer.user_id}
    (await member.call("POST", f"/rooms/{room}/invite", invite)).expect(200)
    (await admin.call("POST", f"/rooms/{room}/kick", {"user_id": victim.user_id})).expect(200)
    (await owner.call("POST", f"/rooms/{room}/kick", {"user_id": admin2.user_id})).expect(200)
    state = (await owner.call("GET", f"/rooms/{room}")).expect(200)
    members = {m["user_id"]: m for m in state["members"]}
    assert victim.user_id not in members and admin2.user_id not in members
    assert members[owner.user_id]["role"] == "owner"
    assert members[admin.user_id]["role"] == "admin"
    assert members[member.user_id]["role"] == "member"


async def test_nobody_invites_a_third_person_into_a_direct_room(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob, carol = [await people(shared_server) for _ in range(3)]
    room = await alice.create_room(bob, kind="direct")
    for caller in (alice, bob):
        reply = await caller.call("POST", f"/rooms/{room}/invite", {"user_id": carol.user_id})
        assert (reply.status, reply.code) == (403, "forbidden"), reply.body


async def test_revoked_device_is_refused_everywhere(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner, victim, t = await targets(people, shared_server)
    (await owner.call("POST", f"/rooms/{t.room}/invite", {"user_id": victim.user_id})).expect(200)
    (await victim.call("POST", f"/rooms/{t.room}/join")).expect(200)
    other = await victim.login()
    revoke = await victim.call(
        "DELETE", f"/devices/{victim.device_id}", token=other["access_token"]
    )
    assert revoke.status == 204, revoke.body

    cases = [(case, 401, "device_revoked") for case in private_endpoints(t)]
    found = await mismatches(victim.http, shared_server, victim.token, cases)
    assert not found, report(found)
    refreshed = await call(
        victim.http,
        "POST",
        f"{shared_server.api_url}/refresh",
        json_body={"refresh_token": victim.session["refresh_token"]},
    )
    assert (refreshed.status, refreshed.code) == (401, "invalid_refresh_token"), refreshed.body
    # The user's other device is untouched.
    assert (await victim.call("GET", "/me", token=other["access_token"])).status == 200


async def test_logged_out_device_is_refused(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    assert (await person.call("POST", "/logout")).status == 204
    reply = await person.call("GET", "/me")
    assert (reply.status, reply.code) == (401, "device_revoked"), reply.body


async def test_disabled_user_cannot_log_in_or_use_old_tokens(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    name = person.username
    result = shared_server.admin("disable", name)
    assert result.returncode == 0, result.stderr
    reply = await call(
        person.http,
        "POST",
        f"{shared_server.api_url}/login",
        json_body={"username": name, "password": PASSWORD},
    )
    assert (reply.status, reply.code) == (403, "user_disabled"), reply.body
    old = await person.call("GET", "/me")
    assert old.status == 401 and old.code in {"device_revoked", "unauthenticated"}, old.body


async def test_disabling_a_user_from_another_process_closes_their_live_websockets(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    live = await person.connect()
    # ``sotto admin`` writes to the database only: the server finds the revoked devices in its
    # sweep, every REVOCATION_SWEEP seconds.
    result = shared_server.admin("disable", person.username)
    assert result.returncode == 0, result.stderr
    assert await live.close_code(timeout=REVOCATION_SWEEP + FRAME_TIMEOUT) == 4003


# WebSocket ----------------------------------------------------------------------------------

CLIENT_FRAMES: list[JSON] = [
    {"type": "send", "id": "1", "room_id": GHOST_ROOM, "client_id": "c", "body": BODY},
    {"type": "typing", "room_id": GHOST_ROOM, "typing": True},
    {"type": "receipt", "room_id": GHOST_ROOM, "seq": 1},
    {"type": "presence", "status": "online"},
    {"type": "mailbox_ack", "up_to": 1},
    {"type": "ping", "id": "p"},
]


@pytest.mark.parametrize("frame", CLIENT_FRAMES, ids=[f["type"] for f in CLIENT_FRAMES])
async def test_any_frame_before_auth_closes_with_protocol_error(
    shared_server: ServerProcess, frame: JSON
) -> None:
    async with http_session() as http, http.ws_connect(shared_server.ws_url) as ws:
        await ws.send_json(frame)
        assert await recv_close(ws) == 4002


async def test_invalid_json_before_auth_closes_with_protocol_error(
    shared_server: ServerProcess,
) -> None:
    async with http_session() as http, http.ws_connect(shared_server.ws_url) as ws:
        await ws.send_str("{not json")
        assert await recv_close(ws) == 4002


@pytest.mark.parametrize("token", ["not-a-jwt", ""], ids=["garbage", "empty"])
async def test_auth_with_a_bad_token_closes_4001(shared_server: ServerProcess, token: str) -> None:
    async with http_session() as http, http.ws_connect(shared_server.ws_url) as ws:
        await ws.send_json({"type": "auth", "token": token})
        assert await recv_close(ws) == 4001


async def test_auth_with_a_forged_unsigned_or_tampered_token_closes_4001(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    for fake in (forged, unsigned, tampered):
        async with person.http.ws_connect(shared_server.ws_url) as ws:
            await ws.send_json({"type": "auth", "token": fake(person.token)})
            assert await recv_close(ws) == 4001, fake.__name__


async def test_silent_connection_is_closed_after_the_auth_deadline(
    shared_server: ServerProcess,
) -> None:
    async with http_session() as http, http.ws_connect(shared_server.ws_url) as ws:
        # The deadline is 10 s; allow slack for a loaded machine but never hang.
        assert await recv_close(ws, timeout=25) == 4001


async def test_non_member_frames_for_a_room_are_refused(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner, outsider, t = await targets(people, shared_server)
    ws = await outsider.connect()
    owner_ws = await owner.connect()
    await ws.send({"type": "send", "id": "s1", "room_id": t.room, "client_id": "c1", "body": BODY})
    error = await ws.wait_type("error")
    assert (error["id"], error["code"]) == ("s1", "not_member"), error
    for frame in (
        {"type": "typing", "room_id": t.room, "typing": True},
        {"type": "receipt", "room_id": t.room, "seq": 1},
    ):
        await ws.send(frame)
        error = await ws.wait_type("error")
        assert (error["id"], error["code"]) == (None, "not_member"), (frame, error)
    # Nothing reached the members, and nothing was stored.
    assert await owner_ws.assert_quiet() == []
    assert {e["sender"] for e in await owner.history(t.room)} == {owner.user_id}


async def test_invited_user_cannot_send_over_the_websocket(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner, invitee = await people(shared_server), await people(shared_server)
    room = await owner.create_room()
    (await owner.call("POST", f"/rooms/{room}/invite", {"user_id": invitee.user_id})).expect(200)
    ws = await invitee.connect()
    await ws.send({"type": "send", "id": "s1", "room_id": room, "client_id": "c", "body": BODY})
    error = await ws.wait_for(
        lambda f: f.get("type") == "error", skip=lambda f: f.get("type") in {"presence", "event"}
    )
    assert (error["id"], error["code"]) == ("s1", "not_member"), error


async def test_revoked_device_token_cannot_open_a_websocket(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    other = await person.login()
    await person.call("DELETE", f"/devices/{person.device_id}", token=other["access_token"])
    async with person.http.ws_connect(shared_server.ws_url) as ws:
        await ws.send_json({"type": "auth", "token": person.token})
        assert await recv_close(ws) == 4003


async def test_revoking_a_device_closes_all_its_live_websockets_and_only_those(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    other = await person.login()
    doomed = [await person.connect(), await person.connect()]
    survivor = await person.connect(token=other["access_token"])
    reply = await person.call("DELETE", f"/devices/{person.device_id}", token=other["access_token"])
    assert reply.status == 204, reply.body
    for ws in doomed:
        assert await ws.close_code() == 4003
    await survivor.send({"type": "ping", "id": "still here"})
    assert (await survivor.wait_type("pong"))["id"] == "still here"


async def test_former_members_are_refused_like_outsiders(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner, leaver, kicked = [await people(shared_server) for _ in range(3)]
    room = await owner.create_room(leaver, kicked)
    await owner.send(room, b"before")
    (await leaver.call("POST", f"/rooms/{room}/leave")).expect(200)
    (await owner.call("POST", f"/rooms/{room}/kick", {"user_id": kicked.user_id})).expect(200)
    cases = [
        (
            Case("POST", f"/rooms/{room}/events", {"client_id": "late", "body": BODY}),
            403,
            "not_member",
        ),
        (Case("GET", f"/rooms/{room}/events?after=0"), 403, "not_member"),
        (Case("GET", f"/rooms/{room}"), 403, "not_member"),
        (Case("POST", f"/rooms/{room}/join"), 403, "not_invited"),
        (Case("POST", f"/rooms/{room}/leave"), 403, "not_member"),
    ]
    found = []
    for former in (leaver, kicked):
        found += await mismatches(former.http, shared_server, former.token, cases)
        ws = await former.connect()
        await ws.send({"type": "send", "id": "s", "room_id": room, "client_id": "ws", "body": BODY})
        error = await ws.wait_type("error")
        if (error["id"], error["code"]) != ("s", "not_member"):
            found.append(f"{former.user_id} WebSocket send: {error}")
    assert not found, report(found)
    senders = [e["sender"] for e in await owner.history(room) if e["kind"] == "message"]
    assert senders == [owner.user_id]


async def test_kicked_member_stops_receiving_the_room_at_once(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner, stays, kicked = [await people(shared_server) for _ in range(3)]
    room = await owner.create_room(stays, kicked)
    stays_ws, kicked_ws = await stays.connect(), await kicked.connect()
    (await owner.call("POST", f"/rooms/{room}/kick", {"user_id": kicked.user_id})).expect(200)
    kick = await kicked_ws.wait_type("event")
    assert kick["event"]["kind"] == "member", kick
    after = await owner.send(room, b"not for you")
    pushed = await stays_ws.wait_for(
        lambda f: f.get("type") == "event" and f["event"]["seq"] == after["event"]["seq"],
        skip=lambda f: f.get("type") in {"presence", "event"},
    )
    assert pushed["event"]["event_id"] == after["event"]["event_id"]
    await kicked_ws.send({"type": "typing", "room_id": room, "typing": True})
    error = await kicked_ws.wait_type("error")
    assert error["code"] == "not_member", error
    assert await kicked_ws.assert_quiet() == [], "a kicked member still receives the room"


async def test_since_replays_nothing_from_rooms_the_caller_is_not_in(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner, outsider, t = await targets(people, shared_server)
    leaver = await people(shared_server)
    (await owner.call("POST", f"/rooms/{t.room}/invite", {"user_id": leaver.user_id})).expect(200)
    (await leaver.call("POST", f"/rooms/{t.room}/join")).expect(200)
    (await leaver.call("POST", f"/rooms/{t.room}/leave")).expect(200)
    await owner.send(t.room, b"after the leave")
    for person in (outsider, leaver):
        ws = await person.connect(since={t.room: 0})
        leaked = [f for f in await ws.assert_quiet() if f.get("type") == "event"]
        assert leaked == [], f"{person.user_id} replayed a room they are not in: {leaked}"


async def test_a_token_in_the_url_is_ignored(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    for query in ("token", "access_token"):
        url = f"{shared_server.ws_url}?{query}={person.token}"
        async with person.http.ws_connect(url) as ws:
            await ws.send_json({"type": "ping", "id": "p"})
            assert await recv_close(ws) == 4002, query
    reply = await call(
        person.http, "GET", f"{shared_server.api_url}/me?access_token={person.token}"
    )
    assert (reply.status, reply.code) == (401, "unauthenticated"), reply.body


async def test_a_kicked_admin_comes_back_as_a_plain_member(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    owner, bob, carol = [await people(shared_server) for _ in range(3)]
    room = await owner.create_room(bob, carol)
    role = {"user_id": bob.user_id, "role": "admin"}
    (await owner.call("POST", f"/rooms/{room}/role", role)).expect(200)
    (await owner.call("POST", f"/rooms/{room}/kick", {"user_id": bob.user_id})).expect(200)
    (await owner.call("POST", f"/rooms/{room}/invite", {"user_id": bob.user_id})).expect(200)
    (await bob.call("POST", f"/rooms/{room}/join")).expect(200)
    members = (await owner.call("GET", f"/rooms/{room}")).expect(200)["members"]
    assert {m["user_id"]: m["role"] for m in members}[bob.user_id] == "member"
    reply = await bob.call("POST", f"/rooms/{room}/kick", {"user_id": carol.user_id})
    assert (reply.status, reply.code) == (403, "forbidden"), reply.body
