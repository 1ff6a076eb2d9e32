"""Group members of either implementation behind one interface, exchanging only bytes.

A test drives a mixed group without caring which library a member runs on; everything that
crosses between members is an encoded MLSMessage (or a ratchet tree), exactly as on the wire.
Each member sends its handshake messages in one wire format, fixed when it joins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Protocol

from sottovoce.mls import (
    ApplicationMessage,
    CommitApplied,
    Group,
    GroupConfig,
    KeyPackageBundle,
    ProposalReceived,
    accept_any_credential,
    generate_key_package,
    key_package_message,
    parse_key_package,
)
from tests.interop.ts_driver import TsMls

Implementation = Literal["python", "ts-mls"]


@dataclass(frozen=True, slots=True)
class CommitOut:
    message: bytes
    welcome: bytes | None
    ratchet_tree: bytes
    """The committer's tree after the commit, for joiners given the tree out of band."""


@dataclass(frozen=True, slots=True)
class Delivered:
    application: bytes | None
    """The plaintext of an application message; None for a proposal or a commit."""
    removed_self: bool = False
    authenticated_data: bytes | None = None
    """An application message's authenticated data, where the library reports it."""


class Member(Protocol):
    name: str
    implementation: Implementation
    public: bool
    """Whether this member's commits travel as PublicMessage (else PrivateMessage)."""

    @property
    def epoch(self) -> int: ...
    @property
    def epoch_authenticator(self) -> bytes: ...
    @property
    def own_leaf(self) -> int: ...
    def roster(self) -> dict[int, str]: ...
    def export(self, label: bytes, context: bytes, length: int) -> bytes: ...
    def add(self, key_packages: list[bytes], *, tree_in_welcome: bool = True) -> CommitOut: ...
    def remove(self, leaves: list[int], add: Sequence[bytes] = ()) -> CommitOut: ...
    def update(self) -> CommitOut:
        """A commit of every proposal received since the last commit, with a path (but
        ts-mls sends none when those proposals are only adds)."""
        ...

    def propose_remove(self, leaf: int) -> bytes: ...
    def propose_add(self, key_package: bytes) -> bytes: ...
    def group_info(self) -> bytes:
        """A signed GroupInfo with the ratchet tree and external_pub, for external joiners."""
        ...

    def encrypt(self, data: bytes, authenticated_data: bytes = b"") -> bytes: ...
    def process(self, message: bytes) -> Delivered: ...


class Candidate(Protocol):
    """Someone with a published KeyPackage who may found a group or be added to one."""

    name: str
    implementation: Implementation
    key_package: bytes

    def create_group(self, group_id: bytes, *, public: bool) -> Member: ...
    def join(self, welcome: bytes, ratchet_tree: bytes | None, *, public: bool) -> Member: ...
    def join_external(self, group_info: bytes, *, public: bool) -> tuple[Member, bytes]:
        """Join by external commit: the new member and the commit the group must process."""
        ...


# -- Python ------------------------------------------------------------------------------------


def _config(public: bool, external_psks: Mapping[bytes, bytes]) -> GroupConfig:
    return GroupConfig(
        accept_any_credential, external_psks=external_psks, encrypt_handshake=not public
    )


class PyMember:
    implementation: Implementation = "python"

    def __init__(
        self, name: str, group: Group, public: bool, external_psks: Mapping[bytes, bytes]
    ) -> None:
        self.name = name
        self.public = public
        self.group = group
        self._external_psks = external_psks

    @property
    def epoch(self) -> int:
        return self.group.epoch

    @property
    def epoch_authenticator(self) -> bytes:
        return self.group.epoch_authenticator

    @property
    def own_leaf(self) -> int:
        return self.group.own_leaf

    def roster(self) -> dict[int, str]:
        return {leaf: c.identity.decode() for leaf, c in self.group.members().items()}

    def export(self, label: bytes, context: bytes, length: int) -> bytes:
        return self.group.export_secret(label, context, length)

    def _commit(self, add: Sequence[bytes], remove: list[int], with_path: bool = True) -> CommitOut:
        key_packages = [parse_key_package(kp) for kp in add]
        out = self.group.commit(add=key_packages, remove=remove, with_path=with_path)
        # The delivery service accepts every commit in these tests.
        self.group.merge_pending_commit()
        return CommitOut(out.message, out.welcome, self.group.ratchet_tree())

    def add(self, key_packages: list[bytes], *, tree_in_welcome: bool = True) -> CommitOut:
        # The Python library always puts the ratchet tree in the Welcome.
        return self._commit(key_packages, [])

    def add_without_path(self, key_packages: list[bytes]) -> CommitOut:
        return self._commit(key_packages, [], with_path=False)

    def remove(self, leaves: list[int], add: Sequence[bytes] = ()) -> CommitOut:
        return self._commit(add, leaves)

    def update(self) -> CommitOut:
        return self._commit([], [])

    def propose_remove(self, leaf: int) -> bytes:
        return self.group.propose_remove(leaf)

    def propose_add(self, key_package: bytes) -> bytes:
        return self.group.propose_add(parse_key_package(key_package))

    def group_info(self) -> bytes:
        return self.group.group_info()

    def propose_update(self) -> bytes:
        return self.group.propose_update()

    def propose_external_psk(self, psk_id: bytes) -> bytes:
        return self.group.propose_external_psk(psk_id)

    def reload(self) -> None:
        """Persist and restore the group state, as a client restarting would."""
        config = _config(self.public, self._external_psks)
        self.group = Group.from_bytes(self.group.to_bytes(), config)

    def encrypt(self, data: bytes, authenticated_data: bytes = b"") -> bytes:
        return self.group.encrypt(data, authenticated_data)

    def process(self, message: bytes) -> Delivered:
        received = self.group.process(message)
        if isinstance(received, ApplicationMessage):
            return Delivered(received.data, authenticated_data=received.authenticated_data)
        if isinstance(received, ProposalReceived):
            return Delivered(None)
        assert isinstance(received, CommitApplied), f"unexpected {received!r}"
        return Delivered(None, removed_self=received.removed_self)


class PyCandidate:
    implementation: Implementation = "python"

    def __init__(self, name: str, external_psks: Mapping[bytes, bytes] | None = None) -> None:
        self.name = name
        self.external_psks = MappingProxyType(dict(external_psks or {}))
        self.bundle: KeyPackageBundle = generate_key_package(name.encode())
        self.key_package = key_package_message(self.bundle)

    def _member(self, group: Group, public: bool) -> PyMember:
        return PyMember(self.name, group, public, self.external_psks)

    def _config(self, public: bool) -> GroupConfig:
        return _config(public, self.external_psks)

    def create_group(self, group_id: bytes, *, public: bool) -> PyMember:
        return self._member(Group.create(group_id, self.bundle, self._config(public)), public)

    def join(self, welcome: bytes, ratchet_tree: bytes | None, *, public: bool) -> PyMember:
        group = Group.join(welcome, self.bundle, self._config(public), ratchet_tree=ratchet_tree)
        return self._member(group, public)

    def join_external(self, group_info: bytes, *, public: bool) -> tuple[PyMember, bytes]:
        group, commit = Group.join_external(group_info, self.bundle, self._config(public))
        return self._member(group, public), commit


# -- ts-mls ------------------------------------------------------------------------------------


class TsMember:
    implementation: Implementation = "ts-mls"

    def __init__(self, driver: TsMls, name: str, public: bool) -> None:
        self.name = name
        self.public = public
        self._driver = driver

    def _call(self, op: str, **arguments: object) -> dict[str, object]:
        return self._driver.call(op, member=self.name, **arguments)

    def _state(self) -> dict[str, object]:
        return self._call("state")

    @property
    def epoch(self) -> int:
        epoch = self._state()["epoch"]
        assert isinstance(epoch, int)
        return epoch

    @property
    def epoch_authenticator(self) -> bytes:
        return _bytes(self._state()["epoch_authenticator"])

    @property
    def own_leaf(self) -> int:
        leaf = self._state()["own_leaf"]
        assert isinstance(leaf, int)
        return leaf

    def roster(self) -> dict[int, str]:
        members = self._state()["members"]
        assert isinstance(members, list)
        return {m["leaf"]: m["identity"] for m in members}

    def export(self, label: bytes, context: bytes, length: int) -> bytes:
        result = self._call("export", label=label.decode(), context=context.hex(), length=length)
        return _bytes(result["secret"])

    def _commit(self, op: str, **arguments: object) -> CommitOut:
        result = self._call(op, public=self.public, **arguments)
        welcome = result.get("welcome")
        return CommitOut(
            _bytes(result["commit"]),
            None if welcome is None else _bytes(welcome),
            _bytes(result["ratchet_tree"]),
        )

    def add(self, key_packages: list[bytes], *, tree_in_welcome: bool = True) -> CommitOut:
        return self._commit(
            "add", key_packages=[kp.hex() for kp in key_packages], tree_in_welcome=tree_in_welcome
        )

    def remove(self, leaves: list[int], add: Sequence[bytes] = ()) -> CommitOut:
        return self._commit("remove", leaves=leaves, add=[kp.hex() for kp in add])

    def update(self) -> CommitOut:
        return self._commit("update")

    def commit_extensions(self, remove: Sequence[int] = ()) -> CommitOut:
        """A commit of a group_context_extensions proposal (required_capabilities, empty)."""
        return self._commit("commit_extensions", remove=list(remove))

    def commit_psk(self, psk_id: bytes) -> CommitOut:
        """A commit with an external PSK proposal by value."""
        return self._commit("commit_psk", psk_id=psk_id.hex())

    def propose_remove(self, leaf: int) -> bytes:
        return _bytes(self._call("propose", remove=leaf, public=self.public)["message"])

    def propose_add(self, key_package: bytes) -> bytes:
        return _bytes(self._call("propose", add=key_package.hex(), public=self.public)["message"])

    def group_info(self) -> bytes:
        """RFC 9420 encoding of external_pub, built by the driver (see driver.mjs)."""
        return _bytes(self._call("group_info")["group_info"])

    def group_info_as_ts_mls_sends_it(self) -> bytes:
        return _bytes(self._call("group_info", as_ts_mls=True)["group_info"])

    def encrypt(self, data: bytes, authenticated_data: bytes = b"") -> bytes:
        result = self._call("encrypt", data=data.hex(), authenticated_data=authenticated_data.hex())
        return _bytes(result["message"])

    def process(self, message: bytes) -> Delivered:
        result = self._call("process", message=message.hex())
        if result["kind"] == "application":
            return Delivered(_bytes(result["data"]))
        return Delivered(None, removed_self=not result["active"])


class TsCandidate:
    implementation: Implementation = "ts-mls"

    def __init__(
        self, driver: TsMls, name: str, external_psks: Mapping[bytes, bytes] | None = None
    ) -> None:
        self.name = name
        self._driver = driver
        self.key_package = _bytes(driver.call("key_package", member=name)["key_package"])
        for psk_id, secret in (external_psks or {}).items():
            driver.call("add_psk", member=name, psk_id=psk_id.hex(), secret=secret.hex())

    def create_group(self, group_id: bytes, *, public: bool) -> TsMember:
        self._driver.call("create_group", member=self.name, group_id=group_id.hex())
        return TsMember(self._driver, self.name, public)

    def join(self, welcome: bytes, ratchet_tree: bytes | None, *, public: bool) -> TsMember:
        tree = None if ratchet_tree is None else ratchet_tree.hex()
        self._driver.call("join", member=self.name, welcome=welcome.hex(), ratchet_tree=tree)
        return TsMember(self._driver, self.name, public)

    def join_external(self, group_info: bytes, *, public: bool) -> tuple[TsMember, bytes]:
        result = self._driver.call("join_external", member=self.name, group_info=group_info.hex())
        return TsMember(self._driver, self.name, public), _bytes(result["commit"])


def _bytes(value: object) -> bytes:
    assert isinstance(value, str), f"expected hex, got {value!r}"
    return bytes.fromhex(value)
