"""Becoming a member: from a Welcome (RFC 9420 section 12.4.3.1), by creating a group
(section 11), or by an external commit (section 12.4.3.2)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType

from sottovoce.mls import _tree_math as tm
from sottovoce.mls._codec import Reader, decode_all, serialize
from sottovoce.mls._commit import Commit
from sottovoce.mls._framing import sign_content
from sottovoce.mls._framing_structs import (
    AuthenticatedContent,
    FramedContent,
    Sender,
    SenderType,
    WireFormat,
)
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._group_state import (
    EXTERNAL_INIT_LABEL,
    EpochBase,
    EpochChange,
    GroupConfig,
    GroupState,
    advance,
    check_credentials,
    lowest_common_ancestor_on_path,
)
from sottovoce.mls._key_package import KeyPackage
from sottovoce.mls._key_schedule import (
    derive_epoch_secrets,
    derive_welcome_secret,
    epoch_secrets_from_joiner,
    zero_secret,
)
from sottovoce.mls._proposal_rules import (
    ResolvedProposal,
    apply_proposals,
    check_extensions_supported,
    required_capabilities,
)
from sottovoce.mls._proposals import ExternalInit, Proposal, ProposalOrRef, Remove
from sottovoce.mls._psk import resolve_psks
from sottovoce.mls._ratchet_tree import RatchetTree, validate_tree
from sottovoce.mls._resumption import check_resumed_group, resumed_psks, resuming_psk
from sottovoce.mls._secret_tree import SecretTree
from sottovoce.mls._suite import CipherSuite, get_suite
from sottovoce.mls._transcript import (
    confirmation_tag_is_valid,
    interim_transcript_hash,
)
from sottovoce.mls._tree_structs import Extension, ExtensionType, LeafNode
from sottovoce.mls._treekem import encrypt_update_path, path_secrets_from, prepare_update_path
from sottovoce.mls._welcome import GroupInfo, Welcome, open_group_info, open_group_secrets
from sottovoce.mls.errors import (
    CryptoError,
    DecodeError,
    InvalidProposal,
    InvalidTree,
    InvalidWelcome,
    ResumptionEpochMismatch,
)


def create_group(
    suite: CipherSuite,
    group_id: bytes,
    leaf: LeafNode,
    signature_priv: bytes,
    encryption_priv: bytes,
    *,
    init_secret: bytes,
    extensions: tuple[Extension, ...] = (),
) -> GroupState:
    """A one-member group at epoch 0 (section 11); ``init_secret`` must be fresh and random."""
    tree = RatchetTree.with_one_leaf(leaf)
    check_extensions_supported(tree, extensions)
    context = GroupContext(suite.suite_id, group_id, 0, tree.tree_hash(suite), b"", extensions)
    epoch = derive_epoch_secrets(
        suite, init_secret, zero_secret(suite), zero_secret(suite), serialize(context)
    )
    tag = suite.mac(epoch.confirmation_key, b"")
    return GroupState(
        suite=suite,
        context=context,
        tree=tree,
        own_leaf=0,
        signature_priv=signature_priv,
        private_keys=MappingProxyType({0: encryption_priv}),
        secrets=epoch,
        secret_tree=SecretTree.create(suite, epoch.encryption_secret, 1),
        interim_transcript_hash=interim_transcript_hash(suite, b"", tag),
        confirmation_tag=tag,
        resumption_psks=MappingProxyType({0: epoch.resumption_psk}),
    )


def _extension(extensions: tuple[Extension, ...], kind: ExtensionType) -> bytes | None:
    return next((e.extension_data for e in extensions if e.extension_type == kind), None)


def _tree_from(group_info: GroupInfo, ratchet_tree: RatchetTree | None) -> RatchetTree:
    data = _extension(group_info.extensions, ExtensionType.RATCHET_TREE)
    if data is not None:
        try:
            return decode_all(data, RatchetTree.decode)
        except DecodeError as exc:
            raise InvalidWelcome(f"ratchet_tree extension does not decode: {exc}") from exc
    if ratchet_tree is None:
        raise InvalidWelcome("no ratchet tree: the GroupInfo has none and none was given")
    return ratchet_tree


def _verified_tree(
    suite: CipherSuite, group_info: GroupInfo, ratchet_tree: RatchetTree | None
) -> RatchetTree:
    """The group's tree, checked against the GroupInfo's tree hash and signer (12.4.3.1)."""
    context = group_info.group_context
    tree = _tree_from(group_info, ratchet_tree)
    if tree.tree_hash(suite) != context.tree_hash:
        raise InvalidWelcome("the ratchet tree does not match the GroupInfo's tree hash")
    try:
        validate_tree(tree, suite, context.group_id, required_capabilities(context.extensions))
    except (InvalidTree, InvalidProposal) as exc:
        raise InvalidWelcome(f"invalid ratchet tree: {exc}") from exc
    signer = tree.leaf(group_info.signer)
    if signer is None or not group_info.verify_signature(suite, signer.signature_key):
        raise InvalidWelcome("GroupInfo signature does not verify with its signer's key")
    return tree


def join_from_welcome(
    welcome: Welcome,
    key_package: KeyPackage,
    *,
    init_priv: bytes,
    encryption_priv: bytes,
    signature_priv: bytes,
    config: GroupConfig,
    ratchet_tree: RatchetTree | None = None,
    resumed_from: GroupState | None = None,
) -> GroupState:
    """A Welcome's group, checked as section 12.4.3.1 asks. A Welcome whose PSKs include a
    reinit or branch resumption PSK needs ``resumed_from``, this member's state of the old
    group, which holds that PSK and which the new group is checked against."""
    suite = get_suite(welcome.cipher_suite)
    if key_package.cipher_suite != welcome.cipher_suite:
        raise InvalidWelcome("the Welcome is for another cipher suite than the KeyPackage")
    try:
        group_secrets = open_group_secrets(suite, welcome, key_package.ref(suite), init_priv)
    except CryptoError as exc:
        raise InvalidWelcome(f"group secrets do not decrypt: {exc}") from exc
    resuming = resuming_psk(group_secrets.psks)
    # A new member holds no resumption PSKs but those of the old group it resumes, if any.
    resumed = resumed_psks(resumed_from, resuming)
    psk_secret = resolve_psks(
        suite,
        group_secrets.psks,
        external=config.external_psks,
        own=None,
        resumed=resumed,
    )
    welcome_secret = derive_welcome_secret(suite, group_secrets.joiner_secret, psk_secret)
    try:
        group_info = open_group_info(suite, welcome, welcome_secret)
    except CryptoError as exc:
        raise InvalidWelcome(f"GroupInfo does not decrypt: {exc}") from exc
    context = group_info.group_context
    if context.cipher_suite != welcome.cipher_suite:
        raise InvalidWelcome("the GroupInfo is for another cipher suite than the Welcome")
    tree = _verified_tree(suite, group_info, ratchet_tree)
    own_leaf = next((i for i, leaf in tree.members() if leaf == key_package.leaf_node), None)
    if own_leaf is None:
        raise InvalidWelcome("the ratchet tree does not contain this KeyPackage's leaf")
    check_credentials(config, tree, None)
    if resuming is not None:
        assert resumed_from is not None
        if context.epoch != 1:
            raise ResumptionEpochMismatch("a branched or reinitialized group starts at epoch 1")
        credentials = (leaf.credential for _, leaf in tree.members())
        check_resumed_group(resumed_from, resuming, context, credentials)
    epoch = epoch_secrets_from_joiner(
        suite, group_secrets.joiner_secret, psk_secret, serialize(context)
    )
    if not confirmation_tag_is_valid(
        suite,
        epoch.confirmation_key,
        context.confirmed_transcript_hash,
        group_info.confirmation_tag,
    ):
        raise InvalidWelcome("GroupInfo confirmation tag does not verify")
    private_keys = {tm.leaf_node(own_leaf): encryption_priv}
    if group_secrets.path_secret is not None:
        start = lowest_common_ancestor_on_path(tree, group_info.signer, own_leaf)
        derived = path_secrets_from(
            tree, suite, group_info.signer, start, group_secrets.path_secret.path_secret
        )
        for x, private in derived.private_keys.items():
            if suite.public_key(private) != tree.encryption_key(x):
                raise InvalidWelcome(f"path secret does not give the public key of node {x}")
        private_keys.update(derived.private_keys)
    return GroupState(
        suite=suite,
        context=context,
        tree=tree,
        own_leaf=own_leaf,
        signature_priv=signature_priv,
        private_keys=MappingProxyType(private_keys),
        secrets=epoch,
        secret_tree=SecretTree.create(suite, epoch.encryption_secret, tree.n_leaves),
        interim_transcript_hash=interim_transcript_hash(
            suite, context.confirmed_transcript_hash, group_info.confirmation_tag
        ),
        confirmation_tag=group_info.confirmation_tag,
        resumption_psks=MappingProxyType({context.epoch: epoch.resumption_psk}),
    )


@dataclass(frozen=True, slots=True)
class ExternalJoin:
    """An external commit to send, and the joiner's state once the group accepts it."""

    authenticated: AuthenticatedContent
    state: GroupState


def _read_external_pub(r: Reader) -> bytes:
    return r.opaque()


def join_external(
    group_info: GroupInfo,
    leaf: LeafNode,
    *,
    signature_priv: bytes,
    config: GroupConfig,
    ratchet_tree: RatchetTree | None = None,
    resync_leaf: int | None = None,
) -> ExternalJoin:
    """Join by external commit (section 12.4.3.2); ``resync_leaf`` removes the joiner's old leaf."""
    suite = get_suite(group_info.group_context.cipher_suite)
    tree = _verified_tree(suite, group_info, ratchet_tree)
    check_credentials(config, tree, None)
    context = group_info.group_context
    data = _extension(group_info.extensions, ExtensionType.EXTERNAL_PUB)
    if data is None:
        raise InvalidWelcome("the GroupInfo has no external_pub extension")
    try:
        external_pub = decode_all(data, _read_external_pub)
    except DecodeError as exc:
        raise InvalidWelcome(f"external_pub does not decode: {exc}") from exc
    kem_output, init_secret = suite.hpke_export_sender(
        external_pub,
        b"",
        EXTERNAL_INIT_LABEL,
        suite.hash_len,
        ephemeral_ikm=config.random_bytes(suite.hash_len),
    )
    sender = Sender(SenderType.NEW_MEMBER_COMMIT)
    inline = [Proposal(ExternalInit(kem_output))]
    if resync_leaf is not None:
        inline.append(Proposal(Remove(resync_leaf)))
    base = EpochBase(
        suite,
        context,
        interim_transcript_hash(
            suite, context.confirmed_transcript_hash, group_info.confirmation_tag
        ),
        signature_priv,
    )
    resolved = [ResolvedProposal(p, sender, by_reference=False) for p in inline]
    applied = apply_proposals(suite, context, tree, resolved, sender, config.clock())
    tree, own_leaf = applied.tree.with_leaf_added(leaf)
    prepared = prepare_update_path(
        tree,
        suite,
        own_leaf,
        leaf,
        signature_priv=signature_priv,
        group_id=context.group_id,
        leaf_secret=config.random_bytes(suite.hash_len),
        path_secret=config.random_bytes(suite.hash_len),
    )
    provisional = dataclasses.replace(
        context, epoch=context.epoch + 1, tree_hash=prepared.tree.tree_hash(suite)
    )
    path = encrypt_update_path(prepared, suite, serialize(provisional))
    content = FramedContent(
        context.group_id,
        context.epoch,
        sender,
        b"",
        Commit(tuple(ProposalOrRef(p) for p in inline), path),
    )
    unconfirmed = sign_content(
        suite, signature_priv, WireFormat.PUBLIC_MESSAGE, content, context, confirmation_tag=b""
    )
    change = EpochChange(
        tree=prepared.tree,
        extensions=context.extensions,
        commit_secret=prepared.secrets.commit_secret,
        init_secret=init_secret,
        psk_secret=zero_secret(suite),
        private_keys=MappingProxyType(prepared.secrets.private_keys),
        own_leaf=own_leaf,
    )
    state, tag = advance(base, change, unconfirmed, None)
    authenticated = dataclasses.replace(
        unconfirmed, auth=dataclasses.replace(unconfirmed.auth, confirmation_tag=tag)
    )
    return ExternalJoin(authenticated, state)
