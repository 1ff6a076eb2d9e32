"""Malformed, oversized and flooding input: the server answers with the documented error or close
code, keeps serving everyone else, and stores nothing partial.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import PersonFactory
from tests.integration.harness import (
    JSON,
    PASSWORD,
    Person,
    Reply,
    ServerProcess,
    b64,
    call,
    http_session,
    new_person,
    random_name,
    recv_close,
    register,
)

# Transport tests: they store arbitrary bodies, so their servers allow plaintext.
pytestmark = pytest.mark.plaintext

KIB = 1024
WS_ERROR_CODES = {"bad_request", "unknown_frame", "not_member", "not_found", "too_large"}


_witnesses: dict[str, tuple[JSON, JSON, str]] = {}


async def assert_still_serving(server: ServerProcess) -> None:
    """Two bystanders can still talk in real time: the abuse hurt nobody else.

    They are registered once per server (registration is deliberately slow) and reconnect from
    fresh addresses each time, so that they never share a rate limit with the abuser.
    """
    if server.base_url not in _witnesses:
        alice, bob = await new_person(server), await new_person(server)
        room = await alice.create_room(bob)
        _witnesses[server.base_url] = (alice.session, bob.session, room)
        await alice.close()
        await bob.close()
    alice_session, bob_session, room = _witnesses[server.base_url]
    alice = Person(server, http_session(), alice_session)
    bob = Person(server, http_session(), bob_session)
    try:
        bob_ws = await bob.connect()
        alice_ws = await alice.connect()
        client_id = secrets.token_hex(8)
        frame = {"type": "send", "id": "w", "room_id": room, "client_id": client_id, "body": "aGk="}
        await alice_ws.send(frame)
        ack = await alice_ws.wait_for(
            lambda f: f.get("type") == "ack", skip=lambda f: f.get("type") in {"presence", "event"}
        )
        pushed = await bob_ws.wait_for(
            lambda f: f.get("type") == "event" and f["event"]["client_id"] == client_id
        )
        assert pushed["event"]["event_id"] == ack["event_id"]
    finally:
        await alice.close()
        await bob.close()


async def assert_error(pending: Awaitable[Reply], status: int, code: str) -> None:
    reply = await pending
    assert (reply.status, reply.code) == (status, code), f"{reply.status} {reply.body!r}"[:400]


# HTTP -----------------------------------------------------------------------------------------


async def raw_post(person: Person, path: str, data: bytes | str) -> Reply:
    return await call(
        person.http,
        "POST",
        person.server.api_url + path,
        token=person.token,
        data=data,
        headers={"Content-Type": "application/json"},
    )


MALFORMED_JSON = ["{", "not json", "", "[1, 2]", '"a string"', "null", '{"kind": "group",}']


async def test_malformed_json_is_a_bad_request(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    found = []
    async with http_session() as anonymous:
        for data in MALFORMED_JSON:
            replies = [
                await raw_post(person, "/rooms", data),
                await call(
                    anonymous,
                    "POST",
                    f"{shared_server.api_url}/register",
                    data=data,
                    headers={"Content-Type": "application/json"},
                ),
            ]
            found += [
                f"{data!r}: {r.status} {r.body!r}"
                for r in replies
                if (r.status, r.code) != (400, "bad_request")
            ]
    assert not found, "\n".join(found)
    assert (await person.call("GET", "/rooms")).expect(200)["rooms"] == []


WRONG_BODIES: list[tuple[str, str, object]] = [
    ("/rooms", "wrong kind type", {"kind": 5, "name": "x"}),
    ("/rooms", "unknown kind", {"kind": "channel", "name": "x"}),
    ("/rooms", "name not a string", {"kind": "group", "name": ["x"]}),
    ("/rooms", "empty name", {"kind": "group", "name": ""}),
    ("/rooms", "name too long", {"kind": "group", "name": "n" * 129}),
    ("/rooms", "invite not a list", {"kind": "group", "name": "x", "invite": "@a:localhost"}),
    ("/rooms", "invite bad id", {"kind": "group", "name": "x", "invite": ["alice"]}),
    ("/rooms", "unknown field", {"kind": "group", "name": "x", "colour": "red"}),
    ("/rooms", "missing kind", {"name": "x"}),
    ("/keys/packages", "package not base64", {"one_time": ["***"]}),
    ("/keys/packages", "one_time not a list", {"one_time": "AAAA"}),
    ("/keys/claim", "user not an id", {"user_id": "bob"}),
    ("/mailbox/ack", "up_to a string", {"up_to": "3"}),
    ("/mailbox/ack", "up_to a bool", {"up_to": True}),
    ("/to_device", "messages not a list", {"messages": {}}),
]


async def test_wrong_types_unknown_and_missing_fields_are_bad_requests(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    found = []
    for path, label, body in WRONG_BODIES:
        reply = await person.call("POST", path, body)
        if (reply.status, reply.code) != (400, "bad_request"):
            found.append(f"{path} ({label}): got {reply.status} {reply.body!r}"[:300])
    assert not found, "\n".join(found)
    assert (await person.call("GET", "/rooms")).expect(200)["rooms"] == []
    count = (await person.call("GET", "/keys/packages/count")).expect(200)
    assert count["one_time_count"] == 0


async def test_bad_event_bodies_store_nothing(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    room = await person.create_room()
    path = f"/rooms/{room}/events"
    cases: list[tuple[object, int, str]] = [
        ({"client_id": "a", "body": "not base64!"}, 400, "bad_request"),
        ({"client_id": "", "body": b64(b"x")}, 400, "bad_request"),
        ({"client_id": "c" * 65, "body": b64(b"x")}, 400, "bad_request"),
        ({"client_id": 7, "body": b64(b"x")}, 400, "bad_request"),
        ({"body": b64(b"x")}, 400, "bad_request"),
        ({"client_id": "a", "body": b64(b"x"), "sender": "@admin:localhost"}, 400, "bad_request"),
        # 64 KiB of plaintext-after-base64 is the limit: one byte more is too large.
        ({"client_id": "big", "body": b64(b"x" * (64 * KIB + 1))}, 413, "too_large"),
    ]
    for body, status, code in cases:
        await assert_error(person.call("POST", path, body), status, code)
    at_limit = await person.send(room, b"x" * (64 * KIB))
    history = await person.history(room)
    messages = [e for e in history if e["kind"] == "message"]
    assert [e["event_id"] for e in messages] == [at_limit["event"]["event_id"]]
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))


async def test_invalid_usernames_and_passwords_are_refused(shared_server: ServerProcess) -> None:
    cases = [
        ({"username": "has space", "password": PASSWORD}, 400, "invalid_username"),
        ({"username": "x" * 65, "password": PASSWORD}, 400, "invalid_username"),
        ({"username": "", "password": PASSWORD}, 400, "invalid_username"),
        ({"username": "ünï", "password": PASSWORD}, 400, "invalid_username"),
        ({"username": random_name(), "password": "short"}, 400, "weak_password"),
        ({"username": random_name(), "password": "p" * 1025}, 400, "weak_password"),
        ({"username": random_name(), "password": 12345678}, 400, "bad_request"),
        ({"username": random_name()}, 400, "bad_request"),
        ({"username": random_name(), "password": PASSWORD, "admin": True}, 400, "bad_request"),
    ]
    async with http_session() as http:
        for body, status, code in cases:
            reply = call(http, "POST", f"{shared_server.api_url}/register", json_body=body)
            await assert_error(reply, status, code)


async def test_username_is_taken_case_insensitively(shared_server: ServerProcess) -> None:
    name = random_name()
    async with http_session() as http:
        url = f"{shared_server.api_url}/register"
        first = await call(http, "POST", url, json_body={"username": name, "password": PASSWORD})
        assert first.expect(201)["user_id"] == f"@{name}:localhost"
        again = call(http, "POST", url, json_body={"username": name.upper(), "password": PASSWORD})
        await assert_error(again, 409, "user_exists")


async def test_oversized_http_body_is_too_large(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    room = await person.create_room()
    huge = json.dumps({"client_id": "huge", "body": b64(b"x" * (300 * KIB))})
    await assert_error(raw_post(person, f"/rooms/{room}/events", huge), 413, "too_large")
    assert [e["kind"] for e in await person.history(room)] == ["member"]
    await assert_still_serving(shared_server)


async def test_oversized_chunked_body_is_too_large(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    """Without a Content-Length the limit still holds while the body streams in."""
    person = await people(shared_server)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"keys": "'
        for _ in range(40):
            yield b"A" * (8 * KIB)
        yield b'"}'

    async with person.http.put(
        f"{shared_server.api_url}/keys/device",
        data=chunks(),
        headers={"Authorization": f"Bearer {person.token}", "Content-Type": "application/json"},
    ) as resp:
        body = await resp.json(content_type=None)
    assert resp.status == 413 and body["error"]["code"] == "too_large", body
    keys = (await person.call("GET", f"/keys/{person.user_id}")).expect(200)
    assert [d["keys"] for d in keys["devices"]] == [None]


async def test_batch_with_one_bad_item_stores_none_of_it(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    sender, recipient = await people(shared_server), await people(shared_server)
    good = {
        "user_id": recipient.user_id,
        "device_id": recipient.device_id,
        "kind": "mls.welcome",
        "body": b64(b"w"),
    }
    bad = {**good, "body": "%%%"}
    await assert_error(
        sender.call("POST", "/to_device", {"messages": [good, good, bad]}), 400, "bad_request"
    )
    too_many = {"messages": [good] * 101}
    reply = await sender.call("POST", "/to_device", too_many)
    assert reply.status in {400, 413} and reply.code in {"bad_request", "too_large"}, reply.body
    mailbox = (await recipient.call("GET", "/mailbox?after=0")).expect(200)
    assert mailbox["messages"] == []

    packages = {"one_time": [b64(b"p1"), b64(b"p2"), b64(b"x" * (16 * KIB + 1))]}
    await assert_error(sender.call("POST", "/keys/packages", packages), 413, "too_large")
    count = (await sender.call("GET", "/keys/packages/count")).expect(200)
    assert (count["one_time_count"], count["has_last_resort"]) == (0, False)

    ghost = "@nobody-here:localhost"
    room = {"kind": "group", "name": "x", "invite": [recipient.user_id, ghost]}
    await assert_error(sender.call("POST", "/rooms", room), 404, "not_found")
    assert (await sender.call("GET", "/rooms")).expect(200)["rooms"] == []
    assert (await recipient.call("GET", "/rooms")).expect(200)["rooms"] == []


async def test_http_flood_is_rate_limited_with_retry_after(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    # Far over the burst of 60, sent at once so that the refill rate cannot keep up.
    replies = await asyncio.gather(*(person.call("GET", "/me") for _ in range(300)))
    limited = [r for r in replies if r.status == 429]
    assert limited, "300 requests at once were all served: no rate limit"
    assert all(r.code == "rate_limited" for r in limited), limited[0].body
    retry_after = limited[0].body["error"]["retry_after"]
    assert isinstance(retry_after, float | int) and retry_after > 0
    await assert_still_serving(shared_server)


async def test_login_flood_from_one_address_is_rate_limited(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    name = person.username
    async with http_session() as http:
        # All at once: password checks are slow by design, and a slow sequence would let the
        # per-minute bucket refill between attempts.
        replies = await asyncio.gather(
            *(
                call(
                    http,
                    "POST",
                    f"{shared_server.api_url}/login",
                    json_body={"username": name, "password": "wrong password!"},
                )
                for _ in range(25)
            )
        )
    codes = Counter((r.status, r.code) for r in replies)
    assert set(codes) == {(401, "invalid_credentials"), (429, "rate_limited")}, codes
    assert codes[(401, "invalid_credentials")] <= 12, codes
    # The account itself is not locked for its owner elsewhere.
    assert (await person.call("GET", "/me")).status == 200


# WebSocket ------------------------------------------------------------------------------------


async def test_unknown_frame_type_is_an_error_and_the_connection_lives(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    ws = await person.connect()
    for frame in ({"type": "explode"}, {"type": "auth", "token": person.token}):
        await ws.send(frame)
        error = await ws.wait_type("error")
        assert error["code"] in {"unknown_frame", "bad_request"}, error
    await ws.send({"type": "explode", "id": "e1"})
    error = await ws.wait_type("error")
    assert error["code"] == "unknown_frame", error
    await ws.send({"type": "ping", "id": "alive"})
    assert (await ws.wait_type("pong"))["id"] == "alive"


MALFORMED_FRAMES = [
    "{oops",
    "[]",
    "42",
    '{"no_type": 1}',
    '{"type": 5}',
    '{"type": "ping", "id": 5}',
    '{"type": "ping", "id": "' + "x" * 65 + '"}',
    '{"type": "typing", "room_id": "!x:localhost"}',
    '{"type": "presence", "status": "invisible"}',
    '{"type": "mailbox_ack", "up_to": "1"}',
    '{"type": "receipt", "room_id": "!AAAAAAAAAAAAAAAAAAAAAA:localhost", "seq": -1}',
    '{"type": "ping", "id": "p", "extra": true}',
]


async def test_malformed_frames_after_auth_are_bad_requests_and_the_connection_lives(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    ws = await person.connect()
    found = []
    for i, raw in enumerate(MALFORMED_FRAMES):
        await ws.ws.send_str(raw)
        error = await ws.wait_type("error")
        if error["code"] != "bad_request":
            found.append(f"{raw}: {error}")
        await ws.send({"type": "ping", "id": f"alive-{i}"})
        assert (await ws.wait_type("pong"))["id"] == f"alive-{i}", raw
    assert not found, "\n".join(found)


async def test_send_frame_with_bad_fields_stores_nothing(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    room = await person.create_room()
    ws = await person.connect()
    bad_frames = [
        (
            {"type": "send", "id": "a", "room_id": room, "client_id": "c", "body": "!!"},
            "bad_request",
        ),
        (
            {"type": "send", "id": "b", "room_id": room, "client_id": "", "body": "AA=="},
            "bad_request",
        ),
        ({"type": "send", "id": "c", "room_id": room, "body": "AA=="}, "bad_request"),
        (
            {"type": "send", "id": "d", "room_id": "room", "client_id": "c", "body": "AA=="},
            "bad_request",
        ),
        (
            {
                "type": "send",
                "id": "e",
                "room_id": room,
                "client_id": "c",
                "body": b64(b"x" * (64 * KIB + 1)),
            },
            "too_large",
        ),
    ]
    for frame, code in bad_frames:
        await ws.send(frame)
        error = await ws.wait_type("error")
        assert (error["code"], error["id"]) == (code, frame["id"]), (frame["id"], error)
    assert [e["kind"] for e in await person.history(room)] == ["member"]


async def test_oversized_frame_closes_1009(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    room = await person.create_room()
    ws = await person.connect()
    frame = {
        "type": "send",
        "id": "x",
        "room_id": room,
        "client_id": "big",
        "body": "A" * (97 * KIB),
    }
    await ws.send(frame)
    assert await ws.close_code() == 1009
    assert [e["kind"] for e in await person.history(room)] == ["member"]
    await assert_still_serving(shared_server)


async def test_binary_frame_closes_1003_before_and_after_auth(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    fresh = await person.http.ws_connect(shared_server.ws_url)
    person.sockets.append(fresh)
    authenticated = (await person.connect()).ws
    for ws in (fresh, authenticated):
        await ws.send_bytes(json.dumps({"type": "ping", "id": "p"}).encode())
        assert await recv_close(ws) == 1003


async def test_frame_flood_is_rate_limited_then_closed_4008(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    ws = await person.connect()
    # Everything is written before anything is read: far over the burst of 128.
    for i in range(600):
        await ws.send({"type": "ping", "id": str(i)})
    pongs, limited = 0, 0
    async with asyncio.timeout(30):
        while True:
            msg = await ws.ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame["type"] == "pong":
                pongs += 1
            elif frame["type"] == "error":
                assert frame["code"] == "rate_limited", frame
                limited += 1
    assert ws.ws.close_code == 4008, (ws.ws.close_code, pongs, limited)
    assert pongs >= 100 and limited >= 1, (pongs, limited)
    await assert_still_serving(shared_server)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
frame_types = st.sampled_from(
    ["send", "typing", "receipt", "presence", "mailbox_ack", "ping", "auth", "event", "x"]
)
fuzz_frames = (
    st.builds(
        lambda kind, fields: {**fields, "type": kind},
        frame_types,
        st.dictionaries(
            st.sampled_from(
                ["id", "room_id", "client_id", "body", "typing", "seq", "status", "up_to", "zz"]
            ),
            json_values,
            max_size=5,
        ),
    )
    | json_values
)


@pytest.fixture
async def fuzzer(shared_server: ServerProcess, people: PersonFactory) -> Person:
    """One person for every example: hypothesis runs them all inside one test call."""
    return await people(shared_server)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(fuzz_frames, min_size=1, max_size=6))
async def test_arbitrary_json_frames_get_documented_answers(
    fuzzer: Person, frames: list[Any]
) -> None:
    ws = await fuzzer.connect()
    for frame in frames:
        await ws.ws.send_str(json.dumps(frame))
    await ws.send({"type": "ping", "id": "end-of-fuzz"})
    async with asyncio.timeout(15):
        while True:
            reply = await ws.recv()
            if reply == {"type": "pong", "id": "end-of-fuzz"}:
                break
            if reply["type"] == "error":
                assert reply["code"] in WS_ERROR_CODES, reply
            else:
                assert reply["type"] in {"pong", "ack", "presence"}, reply
    await ws.close()


async def test_direct_room_needs_exactly_one_other_person(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob, carol = [await people(shared_server) for _ in range(3)]
    for invite in ([], [bob.user_id, carol.user_id], [alice.user_id]):
        body = {"kind": "direct", "invite": invite}
        await assert_error(alice.call("POST", "/rooms", body), 400, "bad_request")
    assert (await alice.call("GET", "/rooms")).expect(200)["rooms"] == []


async def test_refused_registrations_leave_no_account(shared_server: ServerProcess) -> None:
    weak, taken = random_name(), random_name()
    (await register(shared_server, taken)).expect(201)
    await assert_error(register(shared_server, weak, password="short"), 400, "weak_password")
    await assert_error(register(shared_server, taken.upper()), 409, "user_exists")
    listed = shared_server.admin("list-users", "--json")
    assert listed.returncode == 0, listed.stderr
    assert taken in listed.stdout and weak not in listed.stdout


async def test_http_limit_follows_the_user_across_addresses(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    clients = [http_session() for _ in range(5)]
    try:
        replies = await asyncio.gather(
            *(
                call(http, "GET", f"{shared_server.api_url}/me", token=person.token)
                for http in clients
                for _ in range(60)
            )
        )
    finally:
        for http in clients:
            await http.close()
    statuses = {r.status for r in replies}
    assert 429 in statuses, "300 requests of one user from 5 addresses were all served"
    assert statuses <= {200, 429}, statuses


BIG = "100000000000000000000000"
# Bytes that are not UTF-8, carried in a str until the request encodes them back.
NOT_UTF8 = b'{"kind": "group", "name": "\xff\xfe"}'.decode("utf-8", "surrogateescape")


def hostile_requests(room: str, me: Person) -> list[tuple[str, str, str]]:
    """Values that typically crash a layer below the API: NUL and lone surrogates (PostgreSQL
    text and UTF-8 encoders refuse them), integers past 64 bits, deep nesting, bad UTF-8."""
    events = f"/rooms/{room}/events"
    target = f'"user_id": "{me.user_id}", "device_id": "{me.device_id}"'
    return [
        ("POST", "/rooms", '{"kind": "group", "name": "a\\u0000b"}'),
        ("POST", "/rooms", '{"kind": "group", "name": "\\ud800"}'),
        ("POST", events, '{"client_id": "a\\u0000", "body": "AA=="}'),
        ("POST", events, '{"client_id": "\\udfff", "body": "AA=="}'),
        (
            "POST",
            "/to_device",
            f'{{"messages": [{{{target}, "kind": "k\\u0000", "body": "AA=="}}]}}',
        ),
        (
            "POST",
            "/to_device",
            f'{{"messages": [{{{target}, "kind": "\\ud800", "body": "AA=="}}]}}',
        ),
        ("POST", "/mailbox/ack", f'{{"up_to": {BIG}}}'),
        ("POST", "/mailbox/ack", '{"up_to": 1e400}'),
        ("POST", "/mailbox/ack", '{"up_to": NaN}'),
        ("GET", f"{events}?after={BIG}", ""),
        ("GET", f"{events}?before={BIG}", ""),
        ("GET", f"/mailbox?after={BIG}", ""),
        ("POST", f"/rooms/{room}/role", f'{{"user_id": "{me.user_id}", "role": "owner"}}'),
        ("POST", f"/rooms/{room}/invite", '{"user_id": "@a\\u0000:localhost"}'),
        ("GET", "/users/@a%00b:localhost", ""),
        ("GET", "/rooms/!a%00b:localhost", ""),
        ("PUT", "/keys/device", '{"keys": "A\\u0000A="}'),
        ("POST", "/rooms", "[" * 50_000 + "]" * 50_000),
        ("POST", "/rooms", NOT_UTF8),
    ]


async def test_hostile_values_never_cause_a_server_error(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_any_server)
    room = await person.create_room()
    found = []
    for method, path, text in hostile_requests(room, person):
        data = text.encode("utf-8", "surrogateescape") if text else None
        reply = await call(
            person.http,
            method,
            shared_any_server.api_url + path,
            token=person.token,
            data=data,
            headers={"Content-Type": "application/json"},
        )
        if reply.status >= 500 or (reply.code is None and reply.status >= 400):
            found.append(f"{method} {path} {text[:60]!r}: {reply.status} {reply.body!r}"[:300])
    assert not found, "\n".join(found)
    assert shared_any_server.running
    assert (await person.call("GET", "/me")).status == 200


async def test_hostile_frames_never_cause_a_server_error(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_any_server)
    room = await person.create_room()
    send = f'{{"type": "send", "room_id": "{room}", "body": "AA==", '
    frames = [
        send + '"id": "a", "client_id": "a\\u0000"}',
        send + '"id": "b", "client_id": "\\ud800"}',
        f'{{"type": "receipt", "room_id": "{room}", "seq": {BIG}}}',
        f'{{"type": "mailbox_ack", "up_to": {BIG}}}',
        '{"type": "ping", "id": "\\ud800"}',
        "[" * 40_000 + "]" * 40_000,
    ]
    found = []
    for raw in frames:
        ws = await person.connect()
        await ws.ws.send_str(raw)
        try:
            replies = await ws.drain(ignore=frozenset({"presence", "event"}))
        except AssertionError as closed:
            found.append(f"{raw[:70]!r}: the connection ended ({closed})")
            continue
        found += [f"{raw[:70]!r}: {r}" for r in replies if r.get("code") == "internal"]
        await ws.close()
    assert not found, "\n".join(found)


DOCUMENTED_CODES = {
    "bad_request",
    "too_large",
    "invalid_username",
    "weak_password",
    "user_exists",
    "registration_closed",
    "invalid_invite_code",
    "invalid_credentials",
    "user_disabled",
    "unauthenticated",
    "token_expired",
    "invalid_refresh_token",
    "refresh_token_reused",
    "device_revoked",
    "not_found",
    "not_member",
    "forbidden",
    "already_member",
    "not_invited",
    "rate_limited",
}
FUZZ_ENDPOINTS = [
    ("POST", "/rooms"),
    ("POST", "/rooms/{room}/invite"),
    ("POST", "/rooms/{room}/kick"),
    ("POST", "/rooms/{room}/role"),
    ("POST", "/rooms/{room}/events"),
    ("POST", "/to_device"),
    ("POST", "/mailbox/ack"),
    ("PUT", "/keys/device"),
    ("POST", "/keys/packages"),
    ("POST", "/keys/claim"),
    ("POST", "/refresh"),
]
field_names = st.sampled_from(
    [
        *("kind", "name", "invite", "user_id", "role", "client_id", "body", "messages"),
        *("up_to", "keys", "one_time", "last_resort", "refresh_token", "device_id"),
    ]
)
plausible = st.sampled_from(
    [
        "@nobody-here:localhost",
        "!AAAAAAAAAAAAAAAAAAAAAA:localhost",
        "AA==",
        "admin",
        "group",
        "direct",
        "AAAAAAAAAAAA",
    ]
)
field_values = json_values | plausible | st.lists(plausible | json_values, max_size=3)
http_bodies = st.dictionaries(field_names, field_values, max_size=4) | json_values


@pytest.fixture
async def http_fuzzer(
    shared_any_server: ServerProcess, people: PersonFactory
) -> tuple[Person, str]:
    person = await people(shared_any_server)
    return person, await person.create_room()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(endpoint=st.sampled_from(FUZZ_ENDPOINTS), body=http_bodies)
async def test_arbitrary_json_bodies_get_documented_answers(
    http_fuzzer: tuple[Person, str], endpoint: tuple[str, str], body: Any
) -> None:
    person, room = http_fuzzer
    method, path = endpoint
    reply = await person.call(method, path.format(room=room), body)
    assert reply.status < 500, (method, path, body, reply.body)
    if reply.status >= 400:
        assert reply.code in DOCUMENTED_CODES, (method, path, body, reply.body)


async def test_non_ascii_text_comes_back_as_utf8_json(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    name = "café ☕ 日本"
    room_id = await person.create_room(name=name)
    async with person.http.get(
        f"{shared_server.api_url}/rooms/{room_id}",
        headers={"Authorization": f"Bearer {person.token}"},
    ) as resp:
        raw = await resp.read()
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/json")
    assert name.encode() in raw
    assert json.loads(raw.decode("utf-8", errors="strict"))["name"] == name
