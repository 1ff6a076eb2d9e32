"""This device's end-to-end encryption for one CLI command: the profile's keystore, opened from
the OS keyring, ``SOTTO_PASSPHRASE``, a prompt or (``--no-passphrase``) a key file, and the
``RoomCrypto`` over it. Every command is a new process, so identity, device keys and group state
live only in the keystore between commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sottovoce.client.e2ee import RoomCrypto
from sottovoce.client.identity import IdentityKeyPair
from sottovoce.client.keystore import Keystore
from sottovoce.client.records import Session
from sottovoce.client.sdk import SottoClient
from sottovoce.client.unlock import PASSPHRASE_ENV, STORE_FILE, open_profile_store

KEY_FILE_HELP = (
    "when the keystore is created: keep its key in a 0600 file in the profile instead of asking "
    "for a passphrase (protects nothing from whoever can read the profile)"
)


def wanted(directory: Path, args: argparse.Namespace) -> bool:
    """Whether this profile encrypts: it has a keystore, or the command says how to create one.
    A profile without one stays plaintext, which a server with SOTTO_REQUIRE_MLS refuses."""
    return (
        bool(getattr(args, "no_passphrase", False))
        or bool(os.environ.get(PASSPHRASE_ENV))
        or (directory / STORE_FILE).exists()
    )


class DeviceCrypto:
    """The keystore and ``RoomCrypto`` of one command; ``started`` once signed in."""

    def __init__(self, directory: Path, *, no_passphrase: bool) -> None:
        opened = open_profile_store(directory, no_passphrase=no_passphrase)
        if opened.warning is not None:
            print(f"sotto: {opened.warning}", file=sys.stderr)
        self._store: Keystore = opened.store
        held = self._store.load_identity()
        # A new identity is saved once the session names its user (after register or login).
        self._unsaved = held is None
        self._identity = IdentityKeyPair.generate() if held is None else held[1]
        self.crypto = RoomCrypto(self._identity, self._store)
        self._started = False

    async def started(self, client: SottoClient, session: Session) -> RoomCrypto:
        if self._unsaved:
            self._store.save_identity(session.user_id, self._identity)
            self._unsaved = False
        if not self._started:
            await self.crypto.start(client)
            self._started = True
        return self.crypto

    def close(self) -> None:
        self._store.close()
