"""A member's handle on one MLS group: bytes in, bytes out, no I/O.

Every operation computes the next ``GroupState`` and swaps it in only at the very end, so any
exception leaves the group exactly as it was. Own commits wait as a pending commit until the
application confirms the delivery service accepted them (``merge_pending_commit``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

from sottovoce.mls._codec import Writer, decode_all, serialize
from sottovoce.mls._commit_flow import PendingCommit, create_commit, receive_commit
from sottovoce.mls._external_senders import check_external_proposal, external_sender
from sottovoce.mls._framing import (
    protect_private,
    protect_public,
    sign_content,
    unprotect_private,
    unprotect_public,
)
from sottovoce.mls._framing_structs import (
    AuthenticatedContent,
    Content,
    FramedContent,
    MLSMessage,
    PrivateMessage,
    PublicMessage,
    Sender,
    SenderType,
    WireFormat,
    encode_content,
)
from sottovoce.mls._group_state import GroupConfig, GroupState, group_info
from sottovoce.mls._join import create_group, join_external, join_from_welcome
from sottovoce.mls._key_package import KeyPackage, KeyPackageBundle
from sottovoce.mls._key_schedule import export_secret
from sottovoce.mls._proposal_rules import ResolvedProposal
from sottovoce.mls._proposals import (
    Add,
    GroupContextExtensions,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    PSKType,
    ReInit,
    Remove,
    ResumptionPSKUsage,
    Update,
)
from sottovoce.mls._protocol_version import ProtocolVersion
from sottovoce.mls._psk import ResumptionPSKs
from sottovoce.mls._ratchet_tree import RatchetTree
from sottovoce.mls._resumption import check_resumed_group, resumption_psk_id
from sottovoce.mls._state_codec import decode_group, encode_group
from sottovoce.mls._suite import get_suite
from sottovoce.mls._tree_structs import (
    Credential,
    Extension,
    LeafNodeSource,
)
from sottovoce.mls._welcome import GroupInfo, Welcome
from sottovoce.mls.errors import (
    CredentialRejected,
    DecodeError,
    GroupClosed,
    NotAMember,
    ResumptionParametersMismatch,
    ValidationError,
)


@dataclass(frozen=True, slots=True)
class ApplicationMessage:
    """A decrypted, signature-checked application message from the member at leaf ``sender``.
    ``authenticated_data`` travelled unencrypted: authenticated, but not confidential."""

    sender: int
    data: bytes
    authenticated_data: bytes


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    """A valid proposal, now pending: the next commit (by any member) includes it."""

    sender: Sender
    proposal: Proposal


@dataclass(frozen=True, slots=True)
class CommitApplied:
    """A commit moved the group to ``epoch``; ``added`` and ``removed`` are leaf indices (a
    leaf can be in both: an Add reuses the leftmost blank leaf). ``removed_self`` if it
    removed this member, which then can neither read nor send in ``epoch``."""

    committer: Sender
    epoch: int
    added: tuple[int, ...]
    removed: tuple[int, ...]
    removed_self: bool


Received = ApplicationMessage | ProposalReceived | CommitApplied
"""What ``Group.process`` returns for one message, by the kind of message."""


@dataclass(frozen=True, slots=True)
class CommitOutput:
    """An own commit to hand to the delivery service; the group has not moved yet."""

    message: bytes
    """The commit as an MLSMessage, for every current member."""
    welcome: bytes | None
    """The Welcome as an MLSMessage, for the members it adds."""


def _message_bytes(body: PublicMessage | PrivateMessage | Welcome | GroupInfo) -> bytes:
    return serialize(MLSMessage(body))


class Group:
    """One member's view of one group. A call that changes the group either completes, or
    raises an ``MLSError`` and leaves the group exactly as it was. Not thread-safe: give each
    group one owner, and persist it with ``to_bytes`` after each change."""

    def __init__(
        self, state: GroupState, config: GroupConfig, pending_commit: PendingCommit | None = None
    ) -> None:
        self._state: GroupState | None = state
        self._config = config
        self._pending_commit = pending_commit

    # -- becoming a member ----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        group_id: bytes,
        bundle: KeyPackageBundle,
        config: GroupConfig,
        extensions: tuple[Extension, ...] = (),
    ) -> Group:
        """A new group whose only member is the owner of ``bundle`` (its leaf is reused)."""
        key_package = bundle.key_package
        suite = get_suite(key_package.cipher_suite)
        leaf = key_package.leaf_node
        state = create_group(
            suite,
            group_id,
            leaf,
            bundle.signature_priv,
            bundle.encryption_priv,
            init_secret=config.random_bytes(suite.hash_len),
            extensions=extensions,
        )
        return cls(state, config)

    @classmethod
    def join(
        cls,
        welcome: bytes,
        bundle: KeyPackageBundle,
        config: GroupConfig,
        ratchet_tree: bytes | None = None,
        *,
        resumption_from: Group | None = None,
    ) -> Group:
        """Join from a Welcome made for ``bundle``'s key package; ``ratchet_tree`` (see
        ``Group.ratchet_tree``) is needed only if the Welcome carries no tree. Raises
        ``InvalidWelcome`` for a Welcome not for this key package or that fails a check.

        A Welcome into a group started by ``branch`` or ``reinit_continue`` needs
        ``resumption_from``, this member's copy of the old group: its resumption PSK opens
        the Welcome, and the new group is checked against it (epoch 1, same members for a
        reinit, a subset for a branch, the ReInit's parameters). Those checks raise a
        ``ResumptionError`` subclass; ``resumption_from`` is never changed."""
        message = decode_all(welcome, MLSMessage.decode)
        if not isinstance(message.body, Welcome):
            raise DecodeError("expected a Welcome message")
        tree = None if ratchet_tree is None else decode_all(ratchet_tree, RatchetTree.decode)
        state = join_from_welcome(
            message.body,
            bundle.key_package,
            init_priv=bundle.init_priv,
            encryption_priv=bundle.encryption_priv,
            signature_priv=bundle.signature_priv,
            config=config,
            ratchet_tree=tree,
            resumed_from=None if resumption_from is None else resumption_from.state,
        )
        return cls(state, config)

    @classmethod
    def join_external(
        cls,
        group_info_message: bytes,
        bundle: KeyPackageBundle,
        config: GroupConfig,
        *,
        resync_leaf: int | None = None,
    ) -> tuple[Group, bytes]:
        """Join by external commit; returns the group and the commit to send. The group is
        usable once the delivery service accepted that commit. ``resync_leaf`` is this
        client's old leaf, to replace (e.g. after losing its state)."""
        message = decode_all(group_info_message, MLSMessage.decode)
        if not isinstance(message.body, GroupInfo):
            raise DecodeError("expected a GroupInfo message")
        joined = join_external(
            message.body,
            bundle.key_package.leaf_node,
            signature_priv=bundle.signature_priv,
            config=config,
            resync_leaf=resync_leaf,
        )
        state = joined.state
        content = joined.authenticated
        public = PublicMessage(content.content, content.auth)
        return cls(state, config), _message_bytes(public)

    def to_bytes(self) -> bytes:
        """The member's state, versioned, to restore with ``from_bytes``. It contains every
        secret of the member: store it encrypted. An own pending commit is included, so a
        client that restarts between sending a commit and learning it was accepted can still
        merge it."""
        return encode_group(self.state, self._pending_commit)

    @classmethod
    def from_bytes(cls, data: bytes, config: GroupConfig) -> Group:
        """The member saved by ``to_bytes`` (this or the previous state format version);
        raises ``DecodeError`` for anything else."""
        state, pending_commit = decode_group(data)
        return cls(state, config, pending_commit)

    # -- what the group is ----------------------------------------------------------------

    @property
    def state(self) -> GroupState:
        """The current epoch's full state, for inspection and tests; its shape is internal and
        may change. Raises ``NotAMember`` once this member was removed."""
        if self._state is None:
            raise NotAMember("this member was removed from the group")
        return self._state

    def _open_state(self) -> GroupState:
        """The state, for operations that send: refused once a ReInit closed the group."""
        state = self.state
        if state.reinit is not None:
            raise GroupClosed("the group was reinitialized and takes no new messages")
        return state

    @property
    def active(self) -> bool:
        """False once a commit removed this member; calls that need the group then raise
        ``NotAMember``."""
        return self._state is not None

    @property
    def reinitialized(self) -> bool:
        """True once a ReInit was committed (RFC 9420 section 11.2): the group then sends
        nothing more (``GroupClosed``) and continues as a new group, started with
        ``reinit_continue`` and joined with ``Group.join(..., resumption_from=self)``."""
        return self.state.reinit is not None

    @property
    def group_id(self) -> bytes:
        """Chosen by the creator; the same for every member and every epoch."""
        return self.state.context.group_id

    @property
    def epoch(self) -> int:
        """0 when the group was created, one more with each commit since."""
        return self.state.context.epoch

    @property
    def own_leaf(self) -> int:
        """This member's leaf index: what others see as the sender of its messages."""
        return self.state.own_leaf

    @property
    def epoch_authenticator(self) -> bytes:
        """Equal for every member in the same epoch, and for no one else: compare it out of
        band to detect a split view of the group (RFC 9420 section 8.7)."""
        return self.state.secrets.epoch_authenticator

    def members(self) -> dict[int, Credential]:
        """Every current member's credential, by leaf index (blank leaves are left out)."""
        return {i: leaf.credential for i, leaf in self.state.tree.members()}

    def member(self, leaf_index: int) -> Credential | None:
        """The credential of the member at ``leaf_index``; None for a blank or absent leaf."""
        leaf = self.state.tree.leaf(leaf_index)
        return None if leaf is None else leaf.credential

    def export_secret(self, label: bytes, context: bytes, length: int) -> bytes:
        """A secret of ``length`` bytes for the application (MLS-Exporter, RFC 9420 section
        8.5): the same for every member of this epoch, different for another label, context
        or epoch."""
        state = self.state
        return export_secret(state.suite, state.secrets.exporter_secret, label, context, length)

    def group_info(self, *, external_pub: bool = True) -> bytes:
        """A signed GroupInfo with the ratchet tree, for external joiners."""
        return _message_bytes(group_info(self.state, external_pub=external_pub))

    def ratchet_tree(self) -> bytes:
        """The group's ratchet tree, encoded as the ``ratchet_tree`` extension's data (RFC 9420
        section 12.4.3.3): only public keys and credentials. Give it to a joiner beside the
        Welcome as ``Group.join(ratchet_tree=...)``. Call it after ``merge_pending_commit``
        to get the tree of the epoch the Welcome is for."""
        return serialize(self.state.tree)

    # -- sending --------------------------------------------------------------------------

    def _frame(self, content: Content, authenticated_data: bytes) -> FramedContent:
        state = self.state
        return FramedContent(
            state.context.group_id,
            state.context.epoch,
            Sender.member(state.own_leaf),
            authenticated_data,
            content,
        )

    def _protect(
        self, state: GroupState, content: FramedContent, confirmation_tag: bytes | None = None
    ) -> tuple[bytes, GroupState]:
        if self._config.encrypt_handshake or isinstance(content.content, bytes):
            message, tree = protect_private(
                state.suite,
                state.signature_priv,
                content,
                state.context,
                state.secret_tree,
                state.secrets.sender_data_secret,
                confirmation_tag=confirmation_tag,
                padding=self._padding(content.content),
                reuse_guard=self._config.random_bytes(4),
            )
            return _message_bytes(message), dataclasses.replace(state, secret_tree=tree)
        public = protect_public(
            state.suite,
            state.signature_priv,
            content,
            state.context,
            state.secrets.membership_key,
            confirmation_tag,
        )
        return _message_bytes(public), state

    def _padding(self, content: Content) -> int:
        block = self._config.padding_block
        if block <= 1:
            return 0
        w = Writer()
        encode_content(w, content)
        return -len(w.bytes()) % block

    def _wire_format(self) -> WireFormat:
        if self._config.encrypt_handshake:
            return WireFormat.PRIVATE_MESSAGE
        return WireFormat.PUBLIC_MESSAGE

    def encrypt(self, data: bytes, authenticated_data: bytes = b"") -> bytes:
        """An application message for the current epoch, encrypted and signed; every other
        member of this epoch can read it, and only once each. Raises ``GroupClosed`` after a
        ReInit."""
        message, state = self._protect(self._open_state(), self._frame(data, authenticated_data))
        self._state = state
        return message

    def _propose(self, proposal: Proposal, update_key: tuple[bytes, bytes] | None) -> bytes:
        state = self._open_state()
        content = self._frame(proposal, b"")
        message, state = self._protect(state, content)
        authenticated = self._authenticated_own(state, content)
        resolved = ResolvedProposal(proposal, content.sender, by_reference=True)
        state = state.with_pending(state.proposal_ref(authenticated), resolved)
        if update_key is not None:
            keys = {**state.update_keys, update_key[0]: update_key[1]}
            state = dataclasses.replace(state, update_keys=MappingProxyType(keys))
        self._state = state
        return message

    def _authenticated_own(self, state: GroupState, content: FramedContent) -> AuthenticatedContent:
        # Ed25519 signatures are deterministic, so re-signing yields the signature just sent.
        return sign_content(
            state.suite, state.signature_priv, self._wire_format(), content, state.context
        )

    def propose_add(self, key_package: KeyPackage) -> bytes:
        """Propose adding the owner of ``key_package`` (see ``parse_key_package``); the
        member who commits it sends the Welcome."""
        return self._propose(Proposal(Add(key_package)), None)

    def propose_remove(self, leaf_index: int) -> bytes:
        """Propose removing the member at ``leaf_index``."""
        return self._propose(Proposal(Remove(leaf_index)), None)

    def _external_psk(self, psk_id: bytes) -> Proposal:
        nonce = self._config.random_bytes(self.state.suite.hash_len)
        return Proposal(PreSharedKey(PreSharedKeyID(PSKType.EXTERNAL, nonce, psk_id=psk_id)))

    def propose_external_psk(self, psk_id: bytes) -> bytes:
        """Propose mixing an external PSK, known to every member's config, into the next epoch."""
        return self._propose(self._external_psk(psk_id), None)

    def propose_extensions(self, extensions: tuple[Extension, ...]) -> bytes:
        """Propose replacing the group's extensions; every member must support them."""
        return self._propose(Proposal(GroupContextExtensions(extensions)), None)

    def propose_reinit(self, new_group_id: bytes, extensions: tuple[Extension, ...] = ()) -> bytes:
        """Propose closing this group in favour of a new one (RFC 9420 section 11.2)."""
        state = self.state
        reinit = ReInit(new_group_id, ProtocolVersion.MLS10, state.suite.suite_id, extensions)
        return self._propose(Proposal(reinit), None)

    def propose_update(self) -> bytes:
        """Propose a fresh leaf encryption key (the signature key stays)."""
        state = self.state
        leaf = state.tree.leaf(state.own_leaf)
        assert leaf is not None
        private, public = state.suite.derive_key_pair(
            self._config.random_bytes(state.suite.hash_len)
        )
        new_leaf = dataclasses.replace(
            leaf,
            encryption_key=public,
            leaf_node_source=LeafNodeSource.UPDATE,
            lifetime=None,
            parent_hash=None,
        ).signed(state.suite, state.signature_priv, state.context.group_id, state.own_leaf)
        return self._propose(Proposal(Update(new_leaf)), (public, private))

    def commit(
        self,
        *,
        add: Sequence[KeyPackage] = (),
        remove: Sequence[int] = (),
        external_psks: Sequence[bytes] = (),
        extensions: tuple[Extension, ...] | None = None,
        with_path: bool = True,
        authenticated_data: bytes = b"",
    ) -> CommitOutput:
        """Commit the pending proposals plus the given adds, removes, external PSKs (by id,
        known to the config) and new group extensions. A pending proposal that is no longer
        valid is left out rather than failing the commit. ``with_path`` refreshes this
        member's keys (forward secrecy); a commit that needs a path gets one regardless. The
        group moves to the next epoch only on ``merge_pending_commit`` (or when ``process``
        sees this commit come back); a second ``commit`` replaces the pending one."""
        inline = [Proposal(Add(kp)) for kp in add] + [Proposal(Remove(i)) for i in remove]
        inline += [self._external_psk(psk_id) for psk_id in external_psks]
        if extensions is not None:
            inline.append(Proposal(GroupContextExtensions(extensions)))
        return self._commit(inline, with_path, authenticated_data)

    def _commit(
        self,
        inline: list[Proposal],
        with_path: bool,
        authenticated_data: bytes,
        resumed: ResumptionPSKs | None = None,
    ) -> CommitOutput:
        state = self._open_state()
        created = create_commit(
            state,
            self._config,
            inline,
            force_path=with_path,
            authenticated_data=authenticated_data,
            wire_format=self._wire_format(),
            resumed=resumed,
        )
        message, state = self._protect(
            state, created.authenticated.content, created.authenticated.auth.confirmation_tag
        )
        welcome = None if created.welcome is None else _message_bytes(created.welcome)
        self._state = state
        self._pending_commit = PendingCommit(message, created.state, created.added, created.removed)
        return CommitOutput(message, welcome)

    # -- continuing in a new group (RFC 9420 sections 11.2 and 11.3) -----------------------

    def branch(
        self,
        new_group_id: bytes,
        bundle: KeyPackageBundle,
        key_packages: Sequence[KeyPackage],
        *,
        extensions: tuple[Extension, ...] | None = None,
    ) -> tuple[Group, CommitOutput]:
        """Start a subgroup (section 11.3): a new group ``new_group_id`` created with
        ``bundle``, whose first commit adds the owners of ``key_packages`` and carries a
        branch resumption PSK of this group's current epoch, proving the members were here.
        Every member of the new group must be a member of this one (by credential), else
        ``ResumptionMembersMismatch``; the extensions default to this group's. Returns the
        new group, its commit pending as after ``commit``, and that commit, whose Welcome the
        others join with ``Group.join(..., resumption_from=<their copy of this group>)``.
        This group is unchanged."""
        state = self._open_state()
        if extensions is None:
            extensions = state.context.extensions
        return self._start_resumed(
            state, ResumptionPSKUsage.BRANCH, new_group_id, bundle, key_packages, extensions
        )

    def reinit_continue(
        self, bundle: KeyPackageBundle, key_packages: Sequence[KeyPackage]
    ) -> tuple[Group, CommitOutput]:
        """Once a ReInit was merged (section 11.2): the new group it announced (its group id,
        version, cipher suite and extensions), created with ``bundle``, whose first commit
        adds the owners of ``key_packages`` (every other member of this group, else
        ``ResumptionMembersMismatch``) and carries a reinit resumption PSK of this group's
        last epoch. Returned as ``branch`` returns; ``ResumptionParametersMismatch`` if no
        ReInit was committed or ``bundle`` is for another cipher suite."""
        state = self.state
        reinit = state.reinit
        if reinit is None:
            raise ResumptionParametersMismatch("no ReInit was committed in this group")
        return self._start_resumed(
            state,
            ResumptionPSKUsage.REINIT,
            reinit.group_id,
            bundle,
            key_packages,
            reinit.extensions,
        )

    def _start_resumed(
        self,
        old: GroupState,
        usage: ResumptionPSKUsage,
        group_id: bytes,
        bundle: KeyPackageBundle,
        key_packages: Sequence[KeyPackage],
        extensions: tuple[Extension, ...],
    ) -> tuple[Group, CommitOutput]:
        # The new group takes the bundle's cipher suite, which check_resumed_group compares.
        new = Group.create(group_id, bundle, self._config, extensions)
        psk = resumption_psk_id(old, usage, self._config.random_bytes(old.suite.hash_len))
        members = [kp.leaf_node.credential for kp in (bundle.key_package, *key_packages)]
        check_resumed_group(old, psk, new.state.context, members)
        inline = [Proposal(Add(kp)) for kp in key_packages] + [Proposal(PreSharedKey(psk))]
        resumed = ResumptionPSKs(old.context.group_id, old.resumption_psks)
        return new, new._commit(inline, True, b"", resumed)

    def merge_pending_commit(self) -> CommitApplied:
        """Move to the epoch of the own commit, once the delivery service accepted it.
        ``process`` does this too when the commit comes back from the delivery service."""
        pending = self._pending_commit
        if pending is None:
            raise ValidationError("there is no pending commit to merge")
        self._state = pending.state
        self._pending_commit = None
        return CommitApplied(
            Sender.member(pending.state.own_leaf),
            pending.state.context.epoch,
            pending.added,
            pending.removed,
            False,
        )

    def discard_pending_commit(self) -> None:
        """Forget the own pending commit, e.g. when the delivery service refused it; the group
        stays in its epoch, its proposals still pending."""
        self._pending_commit = None

    # -- receiving ------------------------------------------------------------------------

    def process(self, data: bytes) -> Received:
        """Verify and apply one message from the group. Raises, leaving the group unchanged,
        for anything that is not a valid message of the current epoch. A commit from another
        member drops any own pending commit; one that removes this member returns
        ``removed_self=True`` and the group becomes inactive."""
        state = self.state
        if self._pending_commit is not None and data == self._pending_commit.message:
            return self.merge_pending_commit()
        message = decode_all(data, MLSMessage.decode).body
        if isinstance(message, PublicMessage):
            authenticated = unprotect_public(
                state.suite,
                message,
                state.context,
                state.secrets.membership_key,
                self._public_signature_key,
            )
        elif isinstance(message, PrivateMessage):
            authenticated, tree = unprotect_private(
                state.suite,
                message,
                state.context,
                state.secret_tree,
                state.secrets.sender_data_secret,
                state.signature_key,
            )
            state = dataclasses.replace(state, secret_tree=tree)
        else:
            raise ValidationError("only a PublicMessage or PrivateMessage can be processed")
        content = authenticated.content
        body = content.content
        if isinstance(body, bytes):
            self._state = state
            return ApplicationMessage(content.sender.index, body, content.authenticated_data)
        if isinstance(body, Proposal):
            if content.sender.sender_type is SenderType.EXTERNAL:
                check_external_proposal(body)
            ref = state.proposal_ref(authenticated)
            resolved = ResolvedProposal(body, content.sender, by_reference=True)
            self._state = state.with_pending(ref, resolved)
            return ProposalReceived(content.sender, body)
        return self._apply_commit(state, authenticated)

    def _public_signature_key(self, content: FramedContent) -> bytes:
        """Who must have signed a PublicMessage: a member, an external joiner, or an external
        sender the group lists (whose credential the application is asked about)."""
        state = self.state
        if content.sender.sender_type is not SenderType.EXTERNAL:
            return state.signature_key(content)
        sender = external_sender(state.context.extensions, content.sender.index)
        if not self._config.credential_validator(sender.credential, sender.signature_key):
            raise CredentialRejected(f"external sender {content.sender.index} was rejected")
        return sender.signature_key

    def _apply_commit(
        self, state: GroupState, authenticated: AuthenticatedContent
    ) -> CommitApplied:
        # Another member's commit won the epoch: an own pending commit can never apply now.
        received = receive_commit(state, self._config, authenticated)
        self._state = received.state
        self._pending_commit = None
        return CommitApplied(
            received.committer,
            state.context.epoch + 1,
            received.added,
            received.removed,
            removed_self=received.state is None,
        )
