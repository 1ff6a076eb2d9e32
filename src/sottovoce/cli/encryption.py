"""This device's end-to-end encryption for one CLI command: the profile's keystore, opened from
``--no-passphrase``'s key file, ``SOTTO_PASSPHRASE``, the OS keyring or a prompt on a terminal
(``client/unlock.py``), and the ``RoomCrypto`` over it. Every command is a new process, so
identity, device keys and group state live only in the keystore between commands."""

from __future__ import annotations

import sys
from pathlib import Path

from sottovoce.client.e2ee import RoomCrypto
from sottovoce.client.keystore import Keystore
from sottovoce.client.sdk import SottoClient
from sottovoce.client.unlock import STORE_FILE, open_profile_store

KEY_FILE_HELP = (
    "when the keystore is created: keep its key in a 0600 file in the profile instead of asking "
    "for a passphrase (protects nothing from whoever can read the profile)"
)


class DeviceCrypto:
    """The keystore and ``RoomCrypto`` of one command; ``started`` once signed in."""

    def __init__(self, directory: Path, *, no_passphrase: bool) -> None:
        created = not (directory / STORE_FILE).exists()
        opened = open_profile_store(
            directory, no_passphrase=no_passphrase, interactive=sys.stdin.isatty()
        )
        # Said once, when the choice is made: repeated on every command it would bury the
        # errors scripts read from stderr.
        if opened.warning is not None and created:
            print(f"sotto: {opened.warning}", file=sys.stderr)
        self._store: Keystore = opened.store
        self.crypto = RoomCrypto(store=self._store)
        self._started = False

    async def started(self, client: SottoClient) -> RoomCrypto:
        """The device's encryption, keys published; ``DeviceNotLinked`` for a later device of a
        user that has not received the identity key yet."""
        if not self._started:
            await self.crypto.start(client)
            self._started = True
        return self.crypto

    def close(self) -> None:
        self._store.close()
