"""Identical requests racing each other: one wins, the rest get the documented answer, never a
server error from a unique constraint, and nothing is stored twice. Both engines.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Awaitable

import pytest

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
    random_name,
    unb64,
)

# Transport tests: they store arbitrary bodies, so their servers allow plaintext.
pytestmark = pytest.mark.plaintext


async def test_the_same_send_racing_itself_stores_one_event(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    alice = await people(shared_any_server)
    room = await alice.create_room()
    body = {"client_id": "racing", "body": b64(b"once")}
    replies = await asyncio.gather(
        *(alice.call("POST", f"/rooms/{room}/events", body) for _ in range(12))
    )
    assert {r.status for r in replies} == {200}, [r.body for r in replies if r.status != 200]
    assert Counter(r.body["duplicate"] for r in replies) == {False: 1, True: 11}
    assert len({r.body["event"]["event_id"] for r in replies}) == 1
    messages = [e for e in await alice.history(room) if e["kind"] == "message"]
    assert len(messages) == 1


async def test_the_same_username_racing_itself_registers_once(
    shared_any_server: ServerProcess,
) -> None:
    name = random_name()
    sessions = [http_session() for _ in range(6)]
    try:
        replies = await asyncio.gather(
            *(
                call(
                    http,
                    "POST",
                    f"{shared_any_server.api_url}/register",
                    json_body={"username": name, "password": PASSWORD},
                )
                for http in sessions
            )
        )
    finally:
        for http in sessions:
            await http.close()
    outcomes = Counter((r.status, r.code) for r in replies)
    assert outcomes == {(201, None): 1, (409, "user_exists"): 5}, [r.body for r in replies]


async def test_the_same_invite_racing_itself_invites_once(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_any_server), await people(shared_any_server)
    room = await alice.create_room()
    invite = {"user_id": bob.user_id}
    replies = await asyncio.gather(
        *(alice.call("POST", f"/rooms/{room}/invite", invite) for _ in range(8))
    )
    outcomes = Counter((r.status, r.code) for r in replies)
    invites = [e for e in await alice.history(room) if e["kind"] == "member"][1:]
    assert (outcomes, len(invites)) == ({(200, None): 1, (409, "already_member"): 7}, 1), (
        f"8 racing invites answered {dict(outcomes)} and left {len(invites)} invite events"
    )


async def test_the_same_join_racing_itself_joins_once(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_any_server), await people(shared_any_server)
    room = await alice.create_room()
    (await alice.call("POST", f"/rooms/{room}/invite", {"user_id": bob.user_id})).expect(200)
    replies = await asyncio.gather(*(bob.call("POST", f"/rooms/{room}/join") for _ in range(8)))
    outcomes = Counter((r.status, r.code) for r in replies)
    joins = len(await alice.history(room)) - 2  # after create and invite
    assert (outcomes, joins) == ({(200, None): 1, (409, "already_member"): 7}, 1), (
        f"8 racing joins answered {dict(outcomes)} and left {joins} join events"
    )


async def test_one_refresh_token_racing_itself_rotates_at_most_once(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(shared_any_server)
    token = {"refresh_token": person.session["refresh_token"]}
    replies = await asyncio.gather(*(person.call("POST", "/refresh", token) for _ in range(6)))
    outcomes = Counter((r.status, r.code) for r in replies)
    assert outcomes[(200, None)] <= 1, outcomes
    # Once a reuse has revoked the family, the token is merely revoked: a racer that arrives after
    # that revocation gets the protocol's "unknown or revoked" code instead.
    refused = {(401, "refresh_token_reused"), (401, "invalid_refresh_token")}
    assert set(outcomes) <= {(200, None), *refused}, outcomes


async def test_mail_from_many_senders_at_once_gets_distinct_increasing_ids(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    bob = await people(shared_any_server)
    senders = [await people(shared_any_server) for _ in range(4)]
    target = {"user_id": bob.user_id, "device_id": bob.device_id, "kind": "k"}

    async def post(i: int) -> int:
        sender = senders[i % len(senders)]
        mail = {**target, "body": b64(f"{i}".encode())}
        reply = await sender.call("POST", "/to_device", {"messages": [mail]})
        return reply.status

    statuses = await asyncio.gather(*(post(i) for i in range(24)))
    assert Counter(statuses) == {200: 24}, Counter(statuses)
    inbox = (await bob.call("GET", "/mailbox?after=0&limit=100")).expect(200)["messages"]
    ids = [m["id"] for m in inbox]
    assert len(inbox) == 24 and len(set(ids)) == 24 and ids == sorted(ids), ids
    assert sorted(int(unb64(m["body"])) for m in inbox) == list(range(24))


# Membership under concurrency: whatever interleaving the server picks, the room's state is the
# fold of its own timeline, and every successful answer is exactly one event in it. Races do not
# replay, so rounds are drawn from a seeded generator and a failure names its operations.

OPERATIONS = ["invite", "join", "leave", "kick", "promote", "demote"]
ROUNDS = 8


def fold(timeline: list[JSON]) -> dict[str, tuple[str, str]]:
    """Room members as the timeline's member events say; raises on an impossible change."""
    state: dict[str, tuple[str, str]] = {}
    for event in timeline:
        if event["kind"] != "member":
            continue
        change = json.loads(unb64(event["body"]))
        action, target = change["action"], change["target"]
        if action == "create":
            state[target] = ("owner", "joined")
        elif action == "invite":
            assert target not in state, f"seq {event['seq']}: invited while {state[target]}"
            state[target] = ("member", "invited")
        elif action == "join":
            assert state.get(target, ("", ""))[1] == "invited", (
                f"seq {event['seq']}: join uninvited"
            )
            state[target] = (state[target][0], "joined")
        elif action in {"leave", "kick"}:
            assert target in state, f"seq {event['seq']}: {action} of someone not in the room"
            del state[target]
        elif action == "role":
            assert target in state, f"seq {event['seq']}: role change of someone not in the room"
            state[target] = (change["role"], state[target][1])
    return state


async def test_racing_membership_changes_leave_state_equal_to_the_timeline(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    owner, *others = [await people(shared_any_server) for _ in range(4)]
    failures = []
    for seed in range(ROUNDS):
        rng = random.Random(seed)
        ops = [(rng.choice(OPERATIONS), rng.randrange(3)) for _ in range(rng.randint(2, 8))]
        room = await owner.create_room(others[0])
        path = f"/rooms/{room}"

        def request(op: str, who: Person, path: str = path) -> Awaitable[Reply]:
            target = {"user_id": who.user_id}
            if op in {"invite", "kick"}:
                return owner.call("POST", f"{path}/{op}", target)
            if op in {"promote", "demote"}:
                role = {**target, "role": "admin" if op == "promote" else "member"}
                return owner.call("POST", f"{path}/role", role)
            return who.call("POST", f"{path}/{op}")

        replies = await asyncio.gather(*(request(op, others[i]) for op, i in ops))
        timeline = await owner.history(room)
        members = (await owner.call("GET", path)).expect(200)["members"]
        changes = [e for e in timeline if e["kind"] == "member"][3:]  # after create, invite, join
        try:
            assert max(r.status for r in replies) < 500, [r.body for r in replies]
            succeeded = sum(r.status == 200 for r in replies)
            assert len(changes) == succeeded, f"{succeeded} answers of 200, {len(changes)} events"
            state = {m["user_id"]: (m["role"], m["state"]) for m in members}
            assert state == fold(timeline), "room state differs from its timeline"
        except AssertionError as failure:
            failures.append(f"round {seed}, operations {ops}: {failure}")
    legend = ", ".join(f"{n} = {p.user_id}" for n, p in enumerate(others))
    assert not failures, f"users {legend}\n" + "\n".join(failures)
