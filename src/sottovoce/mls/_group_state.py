"""One member's view of one epoch of a group, as an immutable value, and the steps every
epoch change shares (RFC 9420 sections 8 and 12.4).

Operations build a new ``GroupState`` and the caller swaps it in only once everything has
been checked, which is how a rejected message leaves the group exactly as it was.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from sottovoce.mls import _tree_math as tm
from sottovoce.mls._codec import Writer, serialize
from sottovoce.mls._commit import Commit
from sottovoce.mls._framing_structs import AuthenticatedContent, FramedContent, SenderType
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._key_schedule import EpochSecrets, derive_epoch_secrets, external_key_pair
from sottovoce.mls._proposal_rules import ResolvedProposal
from sottovoce.mls._proposals import ReInit
from sottovoce.mls._ratchet_tree import RatchetTree
from sottovoce.mls._secret_tree import SecretTree
from sottovoce.mls._suite import CipherSuite
from sottovoce.mls._transcript import (
    confirmation_tag,
    confirmation_tag_is_valid,
    confirmed_transcript_hash,
    interim_transcript_hash,
)
from sottovoce.mls._tree_structs import Credential, Extension, ExtensionType
from sottovoce.mls._welcome import GroupInfo
from sottovoce.mls.errors import (
    CredentialRejected,
    InvalidCommit,
    InvalidProposal,
    UnknownSender,
)

CredentialValidator = Callable[[Credential, bytes], bool]
"""``(credential, signature_public_key) -> accepted``: the application's say on identities."""

EXTERNAL_INIT_LABEL = b"MLS 1.0 external init secret"
RESUMPTION_PSK_EPOCHS = 8
"""How many past epochs' resumption PSKs a member keeps for PSK proposals."""


def accept_any_credential(credential: Credential, signature_key: bytes) -> bool:
    """For tests and for applications that authenticate members out of band."""
    return True


def _unix_now() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """What the application supplies: identity checks, known external PSKs, the clock."""

    credential_validator: CredentialValidator
    """Asked about every member when joining, and about every new or changed leaf of a
    commit; a ``False`` makes that join or commit fail with ``CredentialRejected``."""
    external_psks: Mapping[bytes, bytes] = field(default_factory=lambda: MappingProxyType({}))
    """External pre-shared keys by id; a commit naming an id missing here is refused."""
    clock: Callable[[], int] = _unix_now
    """Unix seconds, for checking key-package and leaf lifetimes."""
    encrypt_handshake: bool = True
    """Send proposals and commits as PrivateMessages, hiding them from the server."""
    padding_block: int = 32
    """PrivateMessage contents are zero-padded to a multiple of this many bytes, so the
    server learns message lengths only roughly; 0 or 1 turns padding off."""
    random_bytes: Callable[[int], bytes] = secrets.token_bytes
    """Where fresh secrets, nonces and reuse guards come from; HPKE encryption draws its own."""


@dataclass(frozen=True, slots=True)
class PendingProposal:
    ref: bytes
    proposal: ResolvedProposal


@dataclass(frozen=True, slots=True)
class GroupState:
    suite: CipherSuite
    context: GroupContext
    tree: RatchetTree
    own_leaf: int
    signature_priv: bytes
    private_keys: Mapping[int, bytes]
    """HPKE private keys of the nodes this member knows, by node index."""
    secrets: EpochSecrets
    secret_tree: SecretTree
    interim_transcript_hash: bytes
    confirmation_tag: bytes
    pending: tuple[PendingProposal, ...] = ()
    resumption_psks: Mapping[int, bytes] = field(default_factory=lambda: MappingProxyType({}))
    """Resumption PSKs of this and recent epochs, by epoch."""
    update_keys: Mapping[bytes, bytes] = field(default_factory=lambda: MappingProxyType({}))
    """Private keys of leaf nodes this member proposed in Update proposals, by public key."""
    reinit: ReInit | None = None
    """Set once a ReInit was committed: the group is then closed for new messages."""

    def signature_key(self, content: FramedContent) -> bytes:
        """The key a sender's content must verify with: a member's leaf, or for an external
        commit the leaf its UpdatePath brings in."""
        commit = content.content
        if content.sender.sender_type is SenderType.NEW_MEMBER_COMMIT:
            if isinstance(commit, Commit) and commit.path is not None:
                return commit.path.leaf_node.signature_key
            raise UnknownSender("an external commit without an UpdatePath has no signer")
        if content.sender.sender_type is not SenderType.MEMBER:
            raise UnknownSender(f"{content.sender.sender_type.name} senders are not supported")
        leaf = self.tree.leaf(content.sender.index)
        if leaf is None:
            raise UnknownSender(f"leaf {content.sender.index} is not a member")
        return leaf.signature_key

    def proposal_ref(self, authenticated: AuthenticatedContent) -> bytes:
        return self.suite.ref_hash(b"Proposal Reference", serialize(authenticated))

    def external_private_key(self) -> bytes:
        return external_key_pair(self.suite, self.secrets.external_secret)[0]

    def with_pending(self, ref: bytes, proposal: ResolvedProposal) -> GroupState:
        """Remember a proposal; one already held (e.g. an own proposal echoed back) is kept once."""
        if any(p.ref == ref for p in self.pending):
            return self
        return replace(self, pending=(*self.pending, PendingProposal(ref, proposal)))

    def resolve(self, ref: bytes) -> ResolvedProposal:
        for pending in self.pending:
            if pending.ref == ref:
                return pending.proposal
        raise InvalidProposal("commit references a proposal this member has not received")


def group_info(state: GroupState, *, external_pub: bool) -> GroupInfo:
    """A signed GroupInfo for this epoch, carrying the ratchet tree so joiners need nothing
    else; ``external_pub`` adds the key external joiners commit to (section 12.4.3.2)."""
    extensions = [Extension(ExtensionType.RATCHET_TREE, serialize(state.tree))]
    if external_pub:
        public = external_key_pair(state.suite, state.secrets.external_secret)[1]
        extensions.append(Extension(ExtensionType.EXTERNAL_PUB, Writer().opaque(public).bytes()))
    unsigned = GroupInfo(state.context, tuple(extensions), state.confirmation_tag, state.own_leaf)
    return unsigned.signed(state.suite, state.signature_priv)


def check_credentials(config: GroupConfig, tree: RatchetTree, before: RatchetTree | None) -> None:
    """Ask the application about every leaf that is new or changed since ``before``."""
    for i, leaf in tree.members():
        if before is not None:
            # An unchanged leaf is usually the very same object: skip the field comparison.
            old = before.leaf(i)
            if old is leaf or old == leaf:
                continue
        if not config.credential_validator(leaf.credential, leaf.signature_key):
            raise CredentialRejected(f"the credential of leaf {i} was rejected")


def kept_private_keys(
    suite: CipherSuite, tree: RatchetTree, keys: Mapping[int, bytes]
) -> Mapping[int, bytes]:
    """The keys whose node still holds the matching public key; the rest are forgotten."""
    kept = {}
    for x, private in keys.items():
        node = tree.nodes[x] if x < len(tree.nodes) else None
        if node is not None and suite.public_key(private) == node.encryption_key:
            kept[x] = private
    return MappingProxyType(kept)


@dataclass(frozen=True, slots=True)
class EpochChange:
    """What a commit contributes to the next epoch, whichever side computes it."""

    tree: RatchetTree
    extensions: tuple[Extension, ...]
    commit_secret: bytes
    init_secret: bytes
    psk_secret: bytes
    private_keys: Mapping[int, bytes]
    own_leaf: int
    reinit: ReInit | None = None


@dataclass(frozen=True, slots=True)
class EpochBase:
    """What the next epoch is built on: the public state of the current one."""

    suite: CipherSuite
    context: GroupContext
    interim_transcript_hash: bytes
    signature_priv: bytes
    resumption_psks: Mapping[int, bytes] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, state: GroupState) -> EpochBase:
        return cls(
            state.suite,
            state.context,
            state.interim_transcript_hash,
            state.signature_priv,
            state.resumption_psks,
        )


def advance(
    base: EpochBase,
    change: EpochChange,
    authenticated: AuthenticatedContent,
    tag: bytes | None,
) -> tuple[GroupState, bytes]:
    """The new epoch's state and its confirmation tag. With ``tag`` given (a received commit)
    the tag must verify; without it (an own commit) the computed tag is returned to send."""
    suite = base.suite
    confirmed = confirmed_transcript_hash(suite, base.interim_transcript_hash, authenticated)
    context = replace(
        base.context,
        epoch=base.context.epoch + 1,
        tree_hash=change.tree.tree_hash(suite),
        confirmed_transcript_hash=confirmed,
        extensions=change.extensions,
    )
    secrets = derive_epoch_secrets(
        suite, change.init_secret, change.commit_secret, change.psk_secret, serialize(context)
    )
    if tag is None:
        tag = confirmation_tag(suite, secrets.confirmation_key, confirmed)
    elif not confirmation_tag_is_valid(suite, secrets.confirmation_key, confirmed, tag):
        raise InvalidCommit("confirmation tag does not verify: the members disagree on the epoch")
    oldest = context.epoch - RESUMPTION_PSK_EPOCHS
    psks = {e: p for e, p in base.resumption_psks.items() if e > oldest}
    psks[context.epoch] = secrets.resumption_psk
    new = GroupState(
        suite=suite,
        context=context,
        tree=change.tree,
        own_leaf=change.own_leaf,
        signature_priv=base.signature_priv,
        private_keys=kept_private_keys(suite, change.tree, change.private_keys),
        secrets=secrets,
        secret_tree=SecretTree.create(suite, secrets.encryption_secret, change.tree.n_leaves),
        interim_transcript_hash=interim_transcript_hash(suite, confirmed, tag),
        confirmation_tag=tag,
        resumption_psks=MappingProxyType(psks),
        reinit=change.reinit,
    )
    return new, tag


def lowest_common_ancestor_on_path(tree: RatchetTree, sender: int, receiver: int) -> int:
    """The node of ``sender``'s filtered direct path whose subtree holds ``receiver``."""
    target = tm.leaf_node(receiver)
    for x in tree.filtered_direct_path(sender):
        if tm.is_in_subtree(target, x):
            return x
    raise InvalidCommit(f"leaf {receiver} is not below the path of leaf {sender}")
