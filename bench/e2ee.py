"""What end-to-end encryption adds, through the SDK (``RoomCrypto``) and a real server process
(SQLite, ``require_mls`` on, rate limits lifted):

- per message of 200 bytes: the sender's ``seal`` (pad + MLS encrypt) and the receiver's
  ``open`` (MLS decrypt + unpad), CPU time of this process, mean over ``--messages``;
- a room of ``--members`` users: the owner creating it and inviting everyone one by one (each
  invite is a server invite, a key-package claim, an Add commit, a Welcome and a GroupInfo);
  then every member joining from its Welcome; then the owner removing one member (a Remove
  commit and a kick). Wall time, since the server's work counts too.

    python bench/e2ee.py [--members 100] [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import aiohttp

from sottovoce.client import SottoClient
from sottovoce.client.e2ee import RoomCrypto
from sottovoce.client.identity import IdentityKeyPair

PAYLOAD = bytes(200)
PASSWORD = "correct horse battery staple"


@contextmanager
def server() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOTTO_")}
        env |= {
            "SOTTO_AUTH_RATE_PER_MINUTE": "1000000",
            "SOTTO_HTTP_RATE_PER_SECOND": "1000000",
        }
        command = [sys.executable, "-m", "sottovoce", "serve", "--port", str(port)]
        command += ["--data-dir", data, "--log-level", "warning"]
        with (Path(data) / "server.log").open("wb") as log:
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait()


async def wait_ready(base_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"{base_url}/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("the server did not start")


async def device(stack: AsyncExitStack, base_url: str, http: aiohttp.ClientSession) -> RoomCrypto:
    crypto = RoomCrypto(IdentityKeyPair.generate())
    client = await stack.enter_async_context(SottoClient(base_url, http=http, codec=crypto))
    await client.register(f"b{os.urandom(5).hex()}", PASSWORD)
    await crypto.start(client)
    return crypto


def user(crypto: RoomCrypto) -> str:
    return crypto.device.certificate.user_id


async def per_message(alice: RoomCrypto, bob: RoomCrypto, room_id: str, count: int) -> None:
    bodies, seal_cpu = [], 0.0
    for _ in range(count):
        start = time.process_time()
        bodies.append(await alice.seal(room_id, PAYLOAD))
        seal_cpu += time.process_time() - start
    open_cpu, sender = 0.0, alice.device.certificate.device_id
    # Never stored, so each takes a made-up seq of its own.
    for seq, body in enumerate(bodies, start=1):
        start = time.process_time()
        assert await bob.open(room_id, seq, sender, body) == PAYLOAD
        open_cpu += time.process_time() - start
    print(
        f"per 200-byte message: send +{seal_cpu / count * 1e3:.2f} ms CPU (seal), "
        f"receive +{open_cpu / count * 1e3:.2f} ms CPU (open), over {count} messages"
    )


async def main(members: int, messages: int) -> None:
    with server() as base_url:
        await wait_ready(base_url)
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(aiohttp.ClientSession())
            owner = await device(stack, base_url, http)
            others = [await device(stack, base_url, http) for _ in range(members - 1)]

            start = time.perf_counter()
            room_id = await owner.create_room("bench")
            for other in others:
                await owner.invite(room_id, user(other))
            created = time.perf_counter() - start
            start = time.perf_counter()
            for other in others:
                await other.accept_welcomes()
            joined = time.perf_counter() - start
            print(
                f"{members}-member room: created and everyone added by the owner in "
                f"{created:.2f} s; all {members - 1} joined from their Welcomes in "
                f"{joined:.2f} s"
            )

            start = time.perf_counter()
            await owner.remove(room_id, user(others[-1]))
            print(
                f"removing one member (Remove commit + kick): "
                f"{(time.perf_counter() - start) * 1e3:.0f} ms"
            )

            await others[0].catch_up(room_id)
            await per_message(owner, others[0], room_id, messages)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200)
    options = parser.parse_args()
    asyncio.run(main(options.members, options.messages))
