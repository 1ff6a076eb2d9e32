"""Opening a profile's keystore with the right key source, the same way for the CLI and the SDK.

A new store is protected by, in this order: a key file if ``no_passphrase`` (the returned warning
must be shown), the passphrase in ``SOTTO_PASSPHRASE`` if set, the OS keyring if usable, else a
passphrase typed twice at the prompt when someone can answer it. An existing store is opened with
the kind of key recorded in its header, so scripts keep working whichever way it was created; a
passphrase then comes from ``SOTTO_PASSPHRASE`` or the prompt. When no one can answer a prompt
(``interactive=False``) and no other source applies, ``KeySourceUnavailable`` says what to set:
a store is never left unprotected, nor a script waiting on a prompt.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sottovoce.client.e2ee_errors import KeySourceUnavailable
from sottovoce.client.keysources import (
    KeyFileKey,
    KeyringBackend,
    KeyringKey,
    KeySource,
    PassphraseKey,
    system_keyring,
)
from sottovoce.client.keystore import Keystore, stored_key_kind

PASSPHRASE_ENV = "SOTTO_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
STORE_FILE = "keystore.db"
KEY_FILE = "keystore.key"

Prompt = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class OpenedStore:
    store: Keystore
    warning: str | None
    """Set when the store's key is kept unprotected; the caller must show it to the user."""


NO_SOURCE_FOR_NEW_STORE = (
    "no key for the local keystore: set SOTTO_PASSPHRASE, run in a terminal to type a "
    "passphrase, install the 'keyring' package for the OS keyring, or pass --no-passphrase "
    "(key kept in a file)"
)
UNLOCK_NEEDS_A_TERMINAL = (
    "the local keystore is protected by a passphrase: set SOTTO_PASSPHRASE or run in a terminal"
)


def _passphrase(
    environ: Mapping[str, str], prompt: Prompt | None, *, confirm: bool
) -> PassphraseKey:
    if environ.get(PASSPHRASE_ENV):
        return PassphraseKey(environ[PASSPHRASE_ENV])
    if prompt is None:
        raise KeySourceUnavailable(NO_SOURCE_FOR_NEW_STORE if confirm else UNLOCK_NEEDS_A_TERMINAL)
    first = prompt("Passphrase for the local store: ")
    if confirm and prompt("Repeat the passphrase: ") != first:
        raise KeySourceUnavailable("the two passphrases differ; nothing was created")
    return PassphraseKey(first)


def _source_for_new_store(
    profile: Path,
    no_passphrase: bool,
    environ: Mapping[str, str],
    prompt: Prompt | None,
    keyring: KeyringBackend | None,
) -> KeySource:
    if no_passphrase:
        return KeyFileKey(profile / KEY_FILE)
    if not environ.get(PASSPHRASE_ENV) and keyring is not None:
        return KeyringKey(str(profile.resolve()), keyring)
    return _passphrase(environ, prompt, confirm=True)


def _source_for_existing_store(
    kind: str,
    profile: Path,
    environ: Mapping[str, str],
    prompt: Prompt | None,
    keyring: KeyringBackend | None,
) -> KeySource:
    if kind == KeyFileKey.kind:
        return KeyFileKey(profile / KEY_FILE)
    if kind == KeyringKey.kind:
        return KeyringKey(str(profile.resolve()), keyring)
    return _passphrase(environ, prompt, confirm=False)


def open_profile_store(
    profile: Path,
    *,
    no_passphrase: bool = False,
    environ: Mapping[str, str] = os.environ,
    prompt: Prompt = getpass.getpass,
    keyring: Callable[[], KeyringBackend | None] = system_keyring,
    interactive: bool = True,
) -> OpenedStore:
    """The profile's keystore, created on first use. ``no_passphrase`` matters only then.
    ``interactive``: whether someone can answer ``prompt`` (a command line passes whether stdin
    is a terminal)."""
    prompt_or_none = prompt if interactive else None
    profile.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = profile / STORE_FILE
    kind = stored_key_kind(path)
    if kind is None:
        source = _source_for_new_store(profile, no_passphrase, environ, prompt_or_none, keyring())
        store = Keystore.create(path, source)
    else:
        source = _source_for_existing_store(kind, profile, environ, prompt_or_none, keyring())
        store = Keystore.open(path, source)
    warning = source.warning if isinstance(source, KeyFileKey) else None
    return OpenedStore(store, warning)
