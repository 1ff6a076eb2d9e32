"""Real-time behaviour over the wire: ephemeral relays, heartbeats, tokens, registration modes,
idempotent sends, history paging, the device mailbox, operations endpoints and log hygiene.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import _pg_admin as pg_admin
from tests.integration.conftest import PersonFactory, running
from tests.integration.harness import (
    JSON,
    PASSWORD,
    Person,
    ServerProcess,
    WebSocket,
    b64,
    call,
    http_session,
    next_source_ip,
    open_ws,
    random_name,
    recv_close,
    register,
    sqlite_url,
    unb64,
)

# Transport tests: they store arbitrary bodies, so their servers allow plaintext.
pytestmark = pytest.mark.plaintext


def is_type(kind: str, **fields: object) -> Callable[[JSON], bool]:
    def match(frame: JSON) -> bool:
        return frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items())

    return match


async def barrier(*sockets: WebSocket) -> None:
    """Round-trip a ping on each connection in turn, so that whatever the earlier ones caused
    has been pushed to the later ones' queues."""
    for ws in sockets:
        await ws.drain("barrier", frozenset({"presence", "typing", "receipt", "event"}))


async def trio_and_outsider(
    server: ServerProcess, people: PersonFactory
) -> tuple[str, list[Person], Person, list[WebSocket], WebSocket]:
    alice, bob, carol, dave = [await people(server) for _ in range(4)]
    room = await alice.create_room(bob, carol)
    # Dave shares a different room with Alice: he must still hear nothing about this one.
    await alice.create_room(dave, name="other")
    sockets = [await p.connect() for p in (alice, bob, carol)]
    dave_ws = await dave.connect()
    await barrier(*sockets, dave_ws)
    return room, [alice, bob, carol], dave, sockets, dave_ws


# Ephemeral relays --------------------------------------------------------------------------


async def test_typing_is_relayed_to_the_other_members_only(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    room, (alice, _, _), _, (a_ws, b_ws, c_ws), dave_ws = await trio_and_outsider(
        shared_server, people
    )
    await a_ws.send({"type": "typing", "room_id": room, "typing": True})
    for ws in (b_ws, c_ws):
        frame = await ws.wait_for(is_type("typing"))
        assert frame == {
            "type": "typing",
            "room_id": room,
            "user_id": alice.user_id,
            "typing": True,
        }
    await a_ws.send({"type": "typing", "room_id": room, "typing": False})
    frame = await b_ws.wait_for(is_type("typing"))
    assert frame["typing"] is False
    # The typist's own pong comes after anything its typing caused: a barrier for Dave too.
    assert await a_ws.assert_quiet() == [], "the typist hears their own typing"
    assert await dave_ws.assert_quiet() == [], "a non-member hears typing"


async def test_receipts_are_relayed_to_the_other_members_only(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    room, (alice, bob, _), _, (a_ws, b_ws, c_ws), dave_ws = await trio_and_outsider(
        shared_server, people
    )
    sent = await alice.send(room, b"read me")
    seq = sent["event"]["seq"]
    await b_ws.send({"type": "receipt", "room_id": room, "seq": seq})
    for ws in (a_ws, c_ws):
        frame = await ws.wait_for(
            is_type("receipt"),
            skip=lambda f: f["type"] in {"presence", "event"},
        )
        assert frame == {"type": "receipt", "room_id": room, "user_id": bob.user_id, "seq": seq}
    echoed = [f for f in await b_ws.assert_quiet() if f["type"] == "receipt"]
    assert echoed == [], "the reader hears their own receipt"
    leaked = [f for f in await dave_ws.assert_quiet() if f["type"] == "receipt"]
    assert leaked == [], "a non-member sees receipts"


async def test_presence_reaches_people_sharing_a_room_only(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob, eve = [await people(shared_server) for _ in range(3)]
    await alice.create_room(bob)
    b_ws, e_ws = await bob.connect(), await eve.connect()
    a_ws = await alice.connect()
    await a_ws.send({"type": "presence", "status": "away"})
    frame = await b_ws.wait_for(
        is_type("presence", user_id=alice.user_id, status="away"),
        skip=lambda f: f["type"] == "presence",
    )
    assert frame == {"type": "presence", "user_id": alice.user_id, "status": "away"}
    await barrier(a_ws)
    heard = await e_ws.drain("eve")
    assert [f for f in heard if f.get("user_id") == alice.user_id] == [], heard
    await a_ws.close()
    await b_ws.wait_for(
        is_type("presence", user_id=alice.user_id, status="offline"),
        skip=lambda f: f["type"] == "presence",
    )


async def test_ping_is_answered_with_pong_and_ready_announces_the_heartbeat(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    ws = await person.connect()
    assert ws.ready == {
        "type": "ready",
        "user_id": person.user_id,
        "device_id": person.device_id,
        "heartbeat": 30,
    }
    for request_id in ("1", "a" * 64):
        await ws.send({"type": "ping", "id": request_id})
        assert await ws.wait_type("pong") == {"type": "pong", "id": request_id}


async def test_invited_user_hears_the_invite_live(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    room = await alice.create_room()
    b_ws = await bob.connect()
    (await alice.call("POST", f"/rooms/{room}/invite", {"user_id": bob.user_id})).expect(200)
    frame = await b_ws.wait_type("event")
    event = frame["event"]
    assert (event["room_id"], event["kind"]) == (room, "member")
    body = json.loads(unb64(event["body"]))
    assert (body["action"], body["target"]) == ("invite", bob.user_id)


# Tokens -------------------------------------------------------------------------------------


async def refresh(person: Person, refresh_token: str) -> tuple[int, str | None, JSON]:
    reply = await call(
        person.http,
        "POST",
        f"{person.server.api_url}/refresh",
        json_body={"refresh_token": refresh_token},
    )
    return reply.status, reply.code, reply.body


async def test_refresh_rotates_the_refresh_token(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    status, _, first = await refresh(person, person.session["refresh_token"])
    assert status == 200, first
    assert set(first) >= {"user_id", "device_id", "access_token", "refresh_token", "expires_in"}
    assert (first["user_id"], first["device_id"]) == (person.user_id, person.device_id)
    assert first["refresh_token"] != person.session["refresh_token"]
    status, _, second = await refresh(person, first["refresh_token"])
    assert status == 200, second
    me = await person.call("GET", "/me", token=second["access_token"])
    assert me.expect(200) == {
        "user_id": person.user_id,
        "device_id": person.device_id,
        "is_admin": False,
    }


async def test_reusing_a_rotated_refresh_token_revokes_the_device(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    old = person.session["refresh_token"]
    status, _, rotated = await refresh(person, old)
    assert status == 200, rotated
    live = await person.connect()

    assert (await refresh(person, old))[:2] == (401, "refresh_token_reused")
    assert (await refresh(person, rotated["refresh_token"]))[:2] == (401, "invalid_refresh_token")
    reply = await person.call("GET", "/me", token=rotated["access_token"])
    assert (reply.status, reply.code) == (401, "device_revoked"), reply.body
    assert await live.close_code() == 4003


async def test_unknown_refresh_token_is_refused(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    assert (await refresh(person, secrets.token_urlsafe(32)))[:2] == (401, "invalid_refresh_token")
    assert (await person.call("GET", "/me")).status == 200


async def test_expired_tokens_say_so_and_refresh_recovers_until_it_expires_too(
    tmp_path: Path, people: PersonFactory
) -> None:
    data = tmp_path / "data"
    ttl = ["--access-token-ttl", "1", "--refresh-token-ttl", "6"]
    proc = ServerProcess(data, sqlite_url(data), plaintext=True, extra_args=ttl)
    with running(proc):
        idle = await people(proc)
        person = await people(proc)
        registered = asyncio.get_running_loop().time()
        assert person.session["expires_in"] == 1
        await asyncio.sleep(2.5)  # the tokens' lifetimes, not performance bounds
        reply = await person.call("GET", "/me")
        assert (reply.status, reply.code) == (401, "token_expired"), reply.body
        async with person.http.ws_connect(proc.ws_url) as ws:
            await ws.send_json({"type": "auth", "token": person.token})
            assert await recv_close(ws) == 4001
        status, _, session = await refresh(person, person.session["refresh_token"])
        assert status == 200, session
        assert (await person.call("GET", "/me", token=session["access_token"])).status == 200

        await asyncio.sleep(max(0.0, registered + 7 - asyncio.get_running_loop().time()))
        expired = await refresh(idle, idle.session["refresh_token"])
        assert expired[:2] == (401, "invalid_refresh_token"), expired


# Registration modes ---------------------------------------------------------------------------


async def test_open_registration_gives_a_session(shared_server: ServerProcess) -> None:
    name = random_name()
    session = (await register(shared_server, name.upper())).expect(201)
    assert session["user_id"] == f"@{name}:localhost"
    assert set(session) == {"user_id", "device_id", "access_token", "refresh_token", "expires_in"}
    assert len(session["device_id"]) == 12 and session["device_id"].isupper()
    assert session["expires_in"] == 900


async def test_invite_mode_needs_a_valid_unused_unexpired_code(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running(ServerProcess(data, sqlite_url(data), registration="invite")) as proc:

        async def invite_code(*args: str) -> str:
            result = await asyncio.to_thread(proc.admin, "invite-code", *args)
            assert result.returncode == 0, result.stderr
            return result.stdout.strip().splitlines()[-1].strip()

        code, long_lived, short_lived = await asyncio.gather(
            invite_code("--uses", "2"),
            invite_code("--expires-in", "3600"),
            invite_code("--expires-in", "1"),
        )
        made = asyncio.get_running_loop().time()  # all three exist by now
        assert len({code, long_lived, short_lived}) == 3

        refused = await register(proc)
        assert (refused.status, refused.code) == (403, "invalid_invite_code"), refused.body
        wrong = await register(proc, invite_code="not-a-real-code")
        assert (wrong.status, wrong.code) == (403, "invalid_invite_code"), wrong.body
        for _ in range(2):
            (await register(proc, invite_code=code)).expect(201)
        used_up = await register(proc, invite_code=code)
        assert (used_up.status, used_up.code) == (403, "invalid_invite_code"), used_up.body
        (await register(proc, invite_code=long_lived)).expect(201)

        await asyncio.sleep(max(0.0, made + 1.5 - asyncio.get_running_loop().time()))
        expired = await register(proc, invite_code=short_lived)
        assert (expired.status, expired.code) == (403, "invalid_invite_code"), expired.body


async def test_closed_registration_refuses_but_admin_can_create_users(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running(ServerProcess(data, sqlite_url(data), registration="closed")) as proc:
        refused = await register(proc)
        assert (refused.status, refused.code) == (403, "registration_closed"), refused.body
        name = random_name()
        made = proc.admin("create-user", name, "--password-stdin", input=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        async with http_session() as http:
            login = await call(
                http,
                "POST",
                f"{proc.api_url}/login",
                json_body={"username": name, "password": PASSWORD},
            )
            assert login.expect(200)["user_id"] == f"@{name}:localhost"
            wrong = await call(
                http,
                "POST",
                f"{proc.api_url}/login",
                json_body={"username": name, "password": PASSWORD + "!"},
            )
            assert (wrong.status, wrong.code) == (401, "invalid_credentials")
            nobody = await call(
                http,
                "POST",
                f"{proc.api_url}/login",
                json_body={"username": random_name(), "password": PASSWORD},
            )
            assert (nobody.status, nobody.code) == (401, "invalid_credentials")


# Events ---------------------------------------------------------------------------------------


async def test_same_client_id_twice_stores_one_event(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    room = await alice.create_room(bob)
    first = await alice.send(room, b"once", client_id="c-1")
    again = await alice.send(room, b"once", client_id="c-1")
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["event"] == first["event"]

    ws = await alice.connect()
    await ws.send({"type": "send", "id": "r", "room_id": room, "client_id": "c-1", "body": "AA=="})
    ack = await ws.wait_type("ack")
    assert ack == {
        "type": "ack",
        "id": "r",
        "room_id": room,
        "seq": first["event"]["seq"],
        "event_id": first["event"]["event_id"],
        "duplicate": True,
    }
    # The scope is the sending device: someone else's identical client_id is a new event.
    other = await bob.send(room, b"mine", client_id="c-1")
    assert other["duplicate"] is False and other["event"]["event_id"] != first["event"]["event_id"]
    messages = [e for e in await alice.history(room) if e["kind"] == "message"]
    assert [(e["sender"], unb64(e["body"])) for e in messages] == [
        (alice.user_id, b"once"),
        (bob.user_id, b"mine"),
    ]


async def test_sent_event_has_the_documented_shape(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice = await people(shared_server)
    room = await alice.create_room()
    body = bytes(range(256))
    event = (await alice.send(room, body, client_id="shape"))["event"]
    assert set(event) == {
        "room_id",
        "seq",
        "event_id",
        "kind",
        "sender",
        "sender_device",
        "client_id",
        "body",
        "ts",
    }
    assert (event["room_id"], event["kind"], event["sender"]) == (room, "message", alice.user_id)
    assert (event["sender_device"], event["client_id"]) == (alice.device_id, "shape")
    assert unb64(event["body"]) == body and event["body"].endswith("=")
    assert event["event_id"].startswith("$") and isinstance(event["ts"], int)
    assert abs(event["ts"] / 1000 - time.time()) < 3600, "ts is not milliseconds since the epoch"
    # Unpadded base64 is accepted too.
    unpadded = await alice.send(room, b"ab", client_id="nopad")
    assert unb64(unpadded["event"]["body"]) == b"ab"


async def test_history_pages_forward_and_backward_by_seq(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice = await people(shared_server)
    room = await alice.create_room()
    for i in range(25):
        await alice.send(room, f"m{i}".encode())
    path = f"/rooms/{room}/events"
    last = 26  # the creation event, then 25 messages

    first = (await alice.call("GET", f"{path}?after=0&limit=10")).expect(200)
    assert [e["seq"] for e in first["events"]] == list(range(1, 11))
    assert first["next"] == 10
    seen, after = [], 0
    while after is not None:
        page = (await alice.call("GET", f"{path}?after={after}&limit=10")).expect(200)
        assert len(page["events"]) <= 10
        seen += [e["seq"] for e in page["events"]]
        after = page["next"]
    assert seen == list(range(1, last + 1))

    tail = (await alice.call("GET", f"{path}?before={last + 1}&limit=10")).expect(200)
    assert [e["seq"] for e in tail["events"]] == list(range(17, 27))
    assert tail["prev"] == 17
    seen, before = [], last + 1
    while before is not None:
        page = (await alice.call("GET", f"{path}?before={before}&limit=10")).expect(200)
        seen = [e["seq"] for e in page["events"]] + seen
        before = page["prev"]
    assert seen == list(range(1, last + 1))

    edges = [("after", last, "next"), ("before", 1, "prev")]
    for direction, cursor, key in edges:
        page = (await alice.call("GET", f"{path}?{direction}={cursor}")).expect(200)
        assert (page["events"], page[key]) == ([], None), (direction, page)
    default = (await alice.call("GET", f"{path}?after=0")).expect(200)
    assert len(default["events"]) == last and default["next"] is None
    middle = (await alice.call("GET", f"{path}?after=5&limit=3")).expect(200)
    assert [unb64(e["body"]) for e in middle["events"]] == [b"m4", b"m5", b"m6"]


@pytest.mark.parametrize(
    "query", ["after=0&limit=0", "after=0&limit=501", "after=x", "limit=5&after=-1"]
)
async def test_history_rejects_bad_paging_parameters(
    shared_server: ServerProcess, people: PersonFactory, query: str
) -> None:
    alice = await people(shared_server)
    room = await alice.create_room()
    reply = await alice.call("GET", f"/rooms/{room}/events?{query}")
    assert (reply.status, reply.code) == (400, "bad_request"), reply.body


async def test_live_connection_receives_new_events_and_resumes_from_since(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    room = await alice.create_room(bob)
    b_ws = await bob.connect()
    first = await alice.send(room, b"live")
    pushed = await b_ws.wait_type("event")
    assert pushed["event"] == first["event"]
    await b_ws.close()
    missed = [await alice.send(room, f"missed {i}".encode()) for i in range(3)]
    resumed = await bob.connect(since={room: first["event"]["seq"]})
    replayed = [(await resumed.wait_type("event"))["event"] for _ in missed]
    assert replayed == [m["event"] for m in missed]
    assert await resumed.assert_quiet() == []


# Device mailbox -------------------------------------------------------------------------------


def mail_to(person: Person, body: bytes, kind: str = "mls.welcome") -> JSON:
    target = {"user_id": person.user_id, "device_id": person.device_id, "kind": kind}
    return {"messages": [{**target, "body": b64(body)}]}


async def test_mail_is_kept_until_acknowledged(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    for body in (b"welcome-1", b"welcome-2"):
        sent = (await alice.call("POST", "/to_device", mail_to(bob, body))).expect(200)
        assert sent == {"sent": 1}

    ws = await bob.connect()
    first = [(await ws.wait_type("mail"))["mail"] for _ in range(2)]
    assert [unb64(m["body"]) for m in first] == [b"welcome-1", b"welcome-2"]
    assert first[0]["id"] < first[1]["id"]
    assert {(m["sender"], m["sender_device"], m["kind"]) for m in first} == {
        (alice.user_id, alice.device_id, "mls.welcome")
    }
    await ws.close()

    # Not acknowledged: it comes again.
    ws = await bob.connect()
    again = [(await ws.wait_type("mail"))["mail"] for _ in range(2)]
    assert again == first
    await ws.send({"type": "mailbox_ack", "up_to": first[0]["id"]})
    await barrier(ws)
    listed = (await bob.call("GET", "/mailbox?after=0")).expect(200)
    assert listed["messages"] == first[1:]
    await ws.close()

    ack = await bob.call("POST", "/mailbox/ack", {"up_to": first[1]["id"]})
    assert ack.status == 204, ack.body
    ws = await bob.connect()
    assert [f for f in await ws.assert_quiet() if f["type"] == "mail"] == []
    assert (await bob.call("GET", "/mailbox?after=0")).expect(200)["messages"] == []


async def test_mail_is_pushed_live_to_the_addressed_device_only(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    other_session = await bob.login()
    b_ws = await bob.connect()
    b2_ws = await bob.connect(token=other_session["access_token"])
    assert b2_ws.ready["device_id"] == other_session["device_id"]

    (await alice.call("POST", "/to_device", mail_to(bob, b"for the phone"))).expect(200)
    mail = (await b_ws.wait_type("mail"))["mail"]
    assert unb64(mail["body"]) == b"for the phone"
    await barrier(b_ws)
    assert await b2_ws.assert_quiet() == []
    await b2_ws.close()


async def test_mail_to_an_unknown_device_is_not_found(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    messages = [{"user_id": bob.user_id, "device_id": "AAAAAAAAAAAA", "kind": "k", "body": "AA=="}]
    reply = await alice.call("POST", "/to_device", {"messages": messages})
    assert (reply.status, reply.code) == (404, "not_found"), reply.body


async def test_mailbox_pages_with_after(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    batch = mail_to(bob, b"0")
    batch["messages"] = [{**batch["messages"][0], "body": b64(str(i).encode())} for i in range(5)]
    assert (await alice.call("POST", "/to_device", batch)).expect(200) == {"sent": 5}
    page = (await bob.call("GET", "/mailbox?after=0&limit=2")).expect(200)
    assert [unb64(m["body"]) for m in page["messages"]] == [b"0", b"1"]
    rest = (await bob.call("GET", f"/mailbox?after={page['next']}&limit=10")).expect(200)
    assert [unb64(m["body"]) for m in rest["messages"]] == [b"2", b"3", b"4"]
    assert rest["next"] is None


# Operations and hygiene -----------------------------------------------------------------------


async def test_health_readiness_and_metrics_answer_without_user_data(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    room = await person.create_room()
    await person.send(room, b"counted")
    async with http_session() as http:
        assert (await call(http, "GET", f"{shared_server.base_url}/healthz")).status == 200
        assert (await call(http, "GET", f"{shared_server.base_url}/readyz")).status == 200
        metrics = await call(http, "GET", f"{shared_server.base_url}/metrics")
    assert metrics.status == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    text = str(metrics.body)
    assert "# TYPE" in text and "# HELP" in text
    stored = re.search(r'sottovoce_events_stored_total\{kind="message"\} ([0-9.e+]+)', text)
    assert stored is not None and float(stored.group(1)) >= 1, text
    localpart = person.username
    for secret in (localpart, room, person.device_id, person.token):
        assert secret not in text, "metrics expose user data"


async def test_security_headers_are_on_every_answer(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    answers = [
        await person.call("GET", "/me"),
        await person.call("GET", "/me", token="nope"),
        await person.call("GET", "/no/such/thing"),
    ]
    for reply in answers:
        headers = reply.headers
        assert headers.get("X-Content-Type-Options") == "nosniff", (reply.status, dict(headers))
        assert "Content-Security-Policy" in headers, (reply.status, dict(headers))
        csp = headers["Content-Security-Policy"]
        assert "X-Frame-Options" in headers or "frame-ancestors" in csp, dict(headers)
        assert "Referrer-Policy" in headers, dict(headers)
        assert headers["Content-Type"].startswith("application/json"), dict(headers)


async def test_the_server_log_holds_no_secret_or_body_even_at_debug_level(
    tmp_path: Path, people: PersonFactory
) -> None:
    data = tmp_path / "data"
    proc = ServerProcess(
        data, sqlite_url(data), plaintext=True, extra_args=["--log-level", "debug"]
    )
    with running(proc):
        alice, bob = await people(proc), await people(proc)
        room = await alice.create_room(bob)
        body = b"top secret ciphertext " + secrets.token_bytes(16)
        await alice.send(room, body)
        ws = await bob.connect()
        frame = {"type": "send", "id": "x", "room_id": room, "client_id": "x", "body": b64(body)}
        await ws.send(frame)
        await ws.wait_type("ack")
        await ws.send({"type": "bogus", "token": alice.token, "body": b64(body)})
        await ws.wait_for(
            lambda f: f.get("type") == "error",
            skip=lambda f: f.get("type") in {"event", "presence"},
        )
        rotated = (await refresh(alice, alice.session["refresh_token"]))[2]
        await register(proc, random_name(), password="leaky password 123")
        await bob.call("GET", "/me", token=bob.token + "x")
        (await bob.call("POST", "/to_device", mail_to(alice, body))).expect(200)
        (await bob.call("PUT", "/keys/device", {"keys": b64(body)})).expect(204)
        async with http_session() as http:
            await call(
                http,
                "POST",
                f"{proc.api_url}/login",
                json_body={"username": "nobody", "password": "wrong password 456"},
            )
            await call(http, "POST", f"{proc.api_url}/rooms", data=b64(body), token=bob.token)
        await refresh(alice, alice.session["refresh_token"])  # reuse: revokes alice's device
    log = proc.log_text()
    secrets_seen = {
        "access token": alice.token,
        "access token signature": alice.token.rsplit(".", 1)[-1],
        "bob's access token signature": bob.token.rsplit(".", 1)[-1],
        "refresh token": alice.session["refresh_token"],
        "rotated refresh token": rotated["refresh_token"],
        "password": PASSWORD,
        "other password": "leaky password 123",
        "wrong password": "wrong password 456",
        "body (base64)": b64(body),
        "body (raw)": "top secret ciphertext",
    }
    assert log.strip(), "the server logged nothing at all"
    leaked = [what for what, value in secrets_seen.items() if value in log]
    assert not leaked, f"the server log contains: {leaked}"


async def test_joining_member_receives_live_events_on_the_open_connection(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    room = await alice.create_room()
    b_ws = await bob.connect()
    (await alice.call("POST", f"/rooms/{room}/invite", {"user_id": bob.user_id})).expect(200)
    await b_ws.wait_type("event")
    (await bob.call("POST", f"/rooms/{room}/join")).expect(200)
    sent = await alice.send(room, b"welcome aboard")
    pushed = await b_ws.wait_for(
        lambda f: f.get("type") == "event" and f["event"]["kind"] == "message",
        skip=lambda f: f.get("type") in {"presence", "event"},
    )
    assert pushed["event"] == sent["event"]


async def test_rooms_list_shows_joined_and_invited_rooms_with_roles(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    joined = await alice.create_room(bob, name="joined")
    invited = await alice.create_room(name="invited")
    (await alice.call("POST", f"/rooms/{invited}/invite", {"user_id": bob.user_id})).expect(200)
    await alice.send(joined, b"x")
    rooms = {r["room_id"]: r for r in (await bob.call("GET", "/rooms")).expect(200)["rooms"]}
    assert set(rooms) == {joined, invited}
    members = {m["user_id"]: (m["role"], m["state"]) for m in rooms[joined]["members"]}
    assert members == {alice.user_id: ("owner", "joined"), bob.user_id: ("member", "joined")}
    assert rooms[joined]["last_seq"] == 4  # create, invite, join, message
    assert (rooms[joined]["kind"], rooms[joined]["name"]) == ("group", "joined")
    assert rooms[joined]["created_by"] == alice.user_id
    invited_members = {m["user_id"]: m["state"] for m in rooms[invited]["members"]}
    assert invited_members[bob.user_id] == "invited"


async def test_devices_list_marks_the_current_device_and_drops_revoked_ones(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_server)
    second = await person.login(device_name="laptop")
    devices = (await person.call("GET", "/devices")).expect(200)["devices"]
    current = {d["device_id"]: d["current"] for d in devices}
    assert current == {person.device_id: True, second["device_id"]: False}
    laptop = next(d for d in devices if d["device_id"] == second["device_id"])
    assert laptop["display_name"] == "laptop"
    assert set(laptop) == {"device_id", "display_name", "created_at", "last_seen_at", "current"}
    listed = (await person.call("GET", f"/users/{person.user_id}")).expect(200)
    assert sorted(listed["devices"]) == sorted(current)

    gone = await person.call("DELETE", f"/devices/{second['device_id']}")
    assert gone.status == 204, gone.body
    devices = (await person.call("GET", "/devices")).expect(200)["devices"]
    assert [d["device_id"] for d in devices] == [person.device_id]
    listed = (await person.call("GET", f"/users/{person.user_id}")).expect(200)
    assert listed == {"user_id": person.user_id, "devices": [person.device_id]}


async def test_sigterm_closes_websockets_with_going_away_and_exits_cleanly(
    server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(server)
    ws = await person.connect()
    stopping = asyncio.create_task(asyncio.to_thread(server.stop))
    assert await ws.close_code() == 1001
    assert await stopping == 0, server.log_text()[-2000:]


async def test_readyz_reports_an_unreachable_database(
    server_pg: ServerProcess,
) -> None:
    database = server_pg.database_url.rsplit("/", 1)[-1]
    async with http_session() as http:
        assert (await call(http, "GET", f"{server_pg.base_url}/readyz")).status == 200
        await pg_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await pg_admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
        try:
            down = await call(http, "GET", f"{server_pg.base_url}/readyz")
            assert down.status == 503, (down.status, down.body)
            assert (await call(http, "GET", f"{server_pg.base_url}/healthz")).status == 200
        finally:
            await pg_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        # The pool may need a failed attempt or two to notice the database is back.
        statuses = []
        for _ in range(50):
            statuses.append((await call(http, "GET", f"{server_pg.base_url}/readyz")).status)
            if statuses[-1] == 200:
                break
            await asyncio.sleep(0.2)
        assert statuses[-1] == 200, statuses


async def test_inviting_someone_already_in_the_room_is_a_conflict(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob, carol = [await people(shared_server) for _ in range(3)]
    room = await alice.create_room(bob)
    (await alice.call("POST", f"/rooms/{room}/invite", {"user_id": carol.user_id})).expect(200)
    for target in (bob, carol, alice):
        reply = await alice.call("POST", f"/rooms/{room}/invite", {"user_id": target.user_id})
        assert (reply.status, reply.code) == (409, "already_member"), (target.user_id, reply.body)
    (await carol.call("POST", f"/rooms/{room}/join")).expect(200)
    again = await carol.call("POST", f"/rooms/{room}/join")
    assert (again.status, again.code) == (409, "already_member"), again.body


async def test_kicked_member_can_be_invited_back(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    room = await alice.create_room(bob)
    (await alice.call("POST", f"/rooms/{room}/kick", {"user_id": bob.user_id})).expect(200)
    (await alice.call("POST", f"/rooms/{room}/invite", {"user_id": bob.user_id})).expect(200)
    (await bob.call("POST", f"/rooms/{room}/join")).expect(200)
    sent = await bob.send(room, b"back")
    actions = [
        json.loads(unb64(e["body"]))["action"]
        for e in await alice.history(room)
        if e["kind"] == "member"
    ]
    assert actions == ["create", "invite", "join", "kick", "invite", "join"]
    assert sent["event"]["seq"] == 7


async def test_mail_is_pushed_after_the_replay(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    room = await alice.create_room(bob)
    missed = [await alice.send(room, f"missed {i}".encode()) for i in range(2)]
    (await alice.call("POST", "/to_device", mail_to(bob, b"welcome"))).expect(200)
    since = missed[0]["event"]["seq"] - 1
    ws = await bob.connect(since={room: since})
    frames = [f for f in await ws.drain("order") if f["type"] != "presence"]
    kinds = [f["type"] for f in frames]
    assert kinds == ["event", "event", "mail"], frames
    assert [f["event"]["event_id"] for f in frames[:2]] == [m["event"]["event_id"] for m in missed]


async def test_a_body_at_the_size_limit_fits_in_a_websocket_frame(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice = await people(shared_server)
    room = await alice.create_room()
    ws = await alice.connect()
    body = secrets.token_bytes(64 * 1024)
    await ws.send(
        {"type": "send", "id": "max", "room_id": room, "client_id": "max", "body": b64(body)}
    )
    ack = await ws.wait_for(
        lambda f: f.get("type") == "ack", skip=lambda f: f.get("type") in {"presence", "event"}
    )
    stored = [e for e in await alice.history(room) if e["event_id"] == ack["event_id"]]
    assert [unb64(e["body"]) for e in stored] == [body]


MAIL_BATCHES = 30


def small_receive_buffer(addr_info: Any) -> socket.socket:
    """A client socket that barely buffers: a consumer that stops reading shows at once."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def test_consumer_that_stops_reading_is_closed_4009_and_resumes_its_mail(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    connector = aiohttp.TCPConnector(
        local_addr=(next_source_ip(), 0), socket_factory=small_receive_buffer
    )
    async with aiohttp.ClientSession(connector=connector) as slow_http:
        ws, _ = await open_ws(slow_http, shared_server.ws_url, bob.token)
        target = {"user_id": bob.user_id, "device_id": bob.device_id, "kind": "k"}
        # 3,000 frames: past the 1,024-frame queue even when socket buffers hold ~1,500 more.
        for batch in range(MAIL_BATCHES):
            messages = [{**target, "body": b64(bytes([batch, i]) * 800)} for i in range(100)]
            (await alice.call("POST", "/to_device", {"messages": messages})).expect(200)
        # Only now does bob read: what the server could not queue is gone, then the close.
        received = 0
        async with asyncio.timeout(60):
            while True:
                msg = await ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                received += json.loads(msg.data)["type"] == "mail"
        assert ws.close_code == 4009, (ws.close_code, received)
        assert received < MAIL_BATCHES * 100

    resumed = await bob.connect()
    ids: list[int] = []
    async with asyncio.timeout(60):
        while len(ids) < MAIL_BATCHES * 100:
            ids.append((await resumed.wait_type("mail"))["mail"]["id"])
    assert len(set(ids)) == MAIL_BATCHES * 100 and ids == sorted(ids)
    await resumed.send({"type": "mailbox_ack", "up_to": ids[-1]})
    await barrier(resumed)
    assert (await bob.call("GET", "/mailbox?after=0")).expect(200)["messages"] == []
