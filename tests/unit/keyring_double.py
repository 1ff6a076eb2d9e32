"""An in-memory stand-in for the OS keyring, a third-party service absent from test machines."""

from __future__ import annotations


class DictKeyring:
    """The two calls of the ``keyring`` package that ``keysources.KeyringKey`` uses."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service_name: str, username: str) -> str | None:
        return self.entries.get((service_name, username))

    def set_password(self, service_name: str, username: str, password: str) -> None:
        self.entries[(service_name, username)] = password
