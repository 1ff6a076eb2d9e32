"""Receiving a commit (RFC 9420 section 12.4.2) and making one (12.4.1, 12.4.3)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

from sottovoce.mls import _tree_math as tm
from sottovoce.mls._codec import serialize
from sottovoce.mls._commit import Commit
from sottovoce.mls._framing import sign_content
from sottovoce.mls._framing_structs import (
    AuthenticatedContent,
    FramedContent,
    Sender,
    SenderType,
    WireFormat,
)
from sottovoce.mls._group_state import (
    EXTERNAL_INIT_LABEL,
    EpochBase,
    EpochChange,
    GroupConfig,
    GroupState,
    PendingProposal,
    advance,
    check_credentials,
    group_info,
    lowest_common_ancestor_on_path,
)
from sottovoce.mls._key_package import KeyPackage
from sottovoce.mls._key_schedule import zero_secret
from sottovoce.mls._proposal_rules import (
    AppliedProposals,
    ResolvedProposal,
    apply_proposals,
    required_capabilities,
)
from sottovoce.mls._proposals import PreSharedKeyID, Proposal, ProposalOrRef
from sottovoce.mls._psk import ResumptionPSKs, resolve_psks
from sottovoce.mls._ratchet_tree import RatchetTree
from sottovoce.mls._tree_structs import Extension, UpdatePath
from sottovoce.mls._treekem import (
    decrypt_update_path,
    encrypt_update_path,
    merge_update_path,
    prepare_update_path,
)
from sottovoce.mls._welcome import GroupSecrets, PathSecret, Welcome, create_welcome
from sottovoce.mls.errors import InvalidCommit, ValidationError


@dataclass(frozen=True, slots=True)
class ReceivedCommit:
    """The outcome of a valid commit: the next epoch's state, or ``None`` if it removed us."""

    state: GroupState | None
    committer: Sender
    added: tuple[int, ...]
    removed: tuple[int, ...]


def _resolve(state: GroupState, commit: Commit, committer: Sender) -> list[ResolvedProposal]:
    resolved = []
    for item in commit.proposals:
        if isinstance(item.value, Proposal):
            resolved.append(ResolvedProposal(item.value, committer, by_reference=False))
        else:
            resolved.append(state.resolve(item.value))
    return resolved


def _context_with(state: GroupState, tree: RatchetTree, extensions: tuple[Extension, ...]) -> bytes:
    """The provisional GroupContext path secrets are encrypted under (section 12.4.1)."""
    return serialize(
        dataclasses.replace(
            state.context,
            epoch=state.context.epoch + 1,
            tree_hash=tree.tree_hash(state.suite),
            extensions=extensions,
        )
    )


def _placeholder_leaf(tree: RatchetTree, path: UpdatePath) -> tuple[RatchetTree, int]:
    """Where an external joiner lands: the leftmost free leaf (section 12.4.3.2). The placeholder
    carries no encryption key so the path's new leaf always counts as a key change."""
    return tree.with_leaf_added(dataclasses.replace(path.leaf_node, encryption_key=b""))


def _check_resync(tree: RatchetTree, removed: tuple[int, ...], path: UpdatePath) -> None:
    """An external commit may only remove the joiner's own old leaf (section 12.4.3.2)."""
    for i in removed:
        old = tree.leaf(i)
        if old is None or old.credential != path.leaf_node.credential:
            raise InvalidCommit("an external commit may only remove a leaf of the same client")


def _init_secret(state: GroupState, applied: AppliedProposals) -> bytes:
    if applied.external_init is None:
        return state.secrets.init_secret
    return state.suite.hpke_export_receiver(
        state.external_private_key(),
        applied.external_init.kem_output,
        b"",
        EXTERNAL_INIT_LABEL,
        state.suite.hash_len,
    )


def commit_psk_secret(
    state: GroupState,
    config: GroupConfig,
    ids: Sequence[PreSharedKeyID],
    resumed: ResumptionPSKs | None = None,
) -> bytes:
    """``psk_secret`` of a commit in this group: external PSKs from the config, resumption
    PSKs of this group's kept epochs and, for a new group's first commit, of the old group
    ``resumed`` it branches from or reinitializes."""
    own = ResumptionPSKs(state.context.group_id, state.resumption_psks)
    return resolve_psks(state.suite, ids, external=config.external_psks, own=own, resumed=resumed)


def receive_commit(
    state: GroupState, config: GroupConfig, authenticated: AuthenticatedContent
) -> ReceivedCommit:
    """Validate and apply another member's (or an external joiner's) commit."""
    content = authenticated.content
    commit = content.content
    assert isinstance(commit, Commit)
    committer = content.sender
    suite = state.suite
    if committer.sender_type not in (SenderType.MEMBER, SenderType.NEW_MEMBER_COMMIT):
        raise InvalidCommit(f"{committer.sender_type.name} senders cannot commit")
    if committer.sender_type is SenderType.MEMBER and committer.index == state.own_leaf:
        raise InvalidCommit("an own commit is merged from the pending commit, not received")
    resolved = _resolve(state, commit, committer)
    applied = apply_proposals(suite, state.context, state.tree, resolved, committer, config.clock())
    removed = applied.removed
    path = commit.path
    if path is None and (
        applied.path_required or committer.sender_type is SenderType.NEW_MEMBER_COMMIT
    ):
        raise InvalidCommit("this commit must carry an UpdatePath")
    if committer.sender_type is SenderType.NEW_MEMBER_COMMIT and path is not None:
        _check_resync(state.tree, removed, path)
    added = tuple(i for i, _ in applied.added)
    # Judged by the Removes, not by a blank own leaf: an Add in the same commit takes the
    # leftmost blank leaf, which can be the one just emptied for us.
    if state.own_leaf in removed:
        return ReceivedCommit(None, committer, added, removed)
    tree = applied.tree
    sender_leaf = committer.index
    private_keys = dict(state.private_keys)
    commit_secret = zero_secret(suite)
    if path is not None:
        if committer.sender_type is SenderType.NEW_MEMBER_COMMIT:
            tree, sender_leaf = _placeholder_leaf(tree, path)
        tree = merge_update_path(
            tree,
            suite,
            sender_leaf,
            path,
            group_id=state.context.group_id,
            excluded=added,
            required=required_capabilities(applied.extensions),
        )
        own_leaf_node = tree.leaf(state.own_leaf)
        assert own_leaf_node is not None
        update_key = state.update_keys.get(own_leaf_node.encryption_key)
        if update_key is not None:
            private_keys[tm.leaf_node(state.own_leaf)] = update_key
        path_secrets = decrypt_update_path(
            tree,
            suite,
            sender_leaf,
            path,
            receiver=state.own_leaf,
            private_keys=private_keys,
            group_context=_context_with(state, tree, applied.extensions),
            excluded=added,
        )
        private_keys.update(path_secrets.private_keys)
        commit_secret = path_secrets.commit_secret
    check_credentials(config, tree, state.tree)
    change = EpochChange(
        tree=tree,
        extensions=applied.extensions,
        commit_secret=commit_secret,
        init_secret=_init_secret(state, applied),
        psk_secret=commit_psk_secret(state, config, applied.psks),
        private_keys=MappingProxyType(private_keys),
        own_leaf=state.own_leaf,
        reinit=applied.reinit,
    )
    new_state, _ = advance(
        EpochBase.of(state), change, authenticated, authenticated.auth.confirmation_tag
    )
    return ReceivedCommit(new_state, committer, added, removed)


@dataclass(frozen=True, slots=True)
class CreatedCommit:
    """An own commit before it is sent: the signed content with its confirmation tag, the
    state to merge once the delivery service accepts it, and the Welcome for new members."""

    authenticated: AuthenticatedContent
    state: GroupState
    welcome: Welcome | None
    added: tuple[int, ...]
    removed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PendingCommit:
    """An own commit handed to the delivery service and not yet confirmed: the state merging
    it leads to, and its message, to recognise the commit when it comes back."""

    message: bytes
    state: GroupState
    added: tuple[int, ...]
    removed: tuple[int, ...]


def _welcome_for(
    state: GroupState,
    applied: AppliedProposals,
    path_secrets: dict[int, bytes],
) -> Welcome | None:
    if not applied.added:
        return None
    info = group_info(state, external_pub=False)
    recipients: list[tuple[KeyPackage, GroupSecrets]] = []
    for leaf_index, key_package in applied.added:
        path_secret = None
        if path_secrets:
            x = lowest_common_ancestor_on_path(state.tree, state.own_leaf, leaf_index)
            path_secret = PathSecret(path_secrets[x])
        group_secrets = GroupSecrets(state.secrets.joiner_secret, path_secret, applied.psks)
        recipients.append((key_package, group_secrets))
    return create_welcome(state.suite, state.secrets.welcome_secret, info, recipients)


def _valid_pending(
    state: GroupState, config: GroupConfig, me: Sender, resumed: ResumptionPSKs | None
) -> list[PendingProposal]:
    """The pending proposals a commit can carry (section 12.2): one that is invalid, or that
    conflicts with an earlier one (such as the committer's own Update), is left out rather
    than blocking the commit."""
    kept: list[PendingProposal] = []
    now = config.clock()
    for candidate in state.pending:
        trial = [p.proposal for p in (*kept, candidate)]
        try:
            applied = apply_proposals(state.suite, state.context, state.tree, trial, me, now)
            commit_psk_secret(state, config, applied.psks, resumed)
        except ValidationError:
            continue
        kept.append(candidate)
    return kept


def create_commit(
    state: GroupState,
    config: GroupConfig,
    inline: Sequence[Proposal],
    *,
    force_path: bool,
    authenticated_data: bytes,
    wire_format: WireFormat,
    resumed: ResumptionPSKs | None = None,
) -> CreatedCommit:
    """Commit every pending proposal by reference plus ``inline`` ones by value; ``resumed``
    holds the old group's PSKs when this is the first commit of a branch or reinit."""
    suite = state.suite
    me = Sender.member(state.own_leaf)
    pending = _valid_pending(state, config, me, resumed)
    refs = [ProposalOrRef(p.ref) for p in pending]
    resolved = [p.proposal for p in pending]
    refs += [ProposalOrRef(p) for p in inline]
    resolved += [ResolvedProposal(p, me, by_reference=False) for p in inline]
    applied = apply_proposals(suite, state.context, state.tree, resolved, me, config.clock())
    tree = applied.tree
    added = tuple(i for i, _ in applied.added)
    check_credentials(config, tree, state.tree)
    update_path = None
    path_secrets: dict[int, bytes] = {}
    commit_secret = zero_secret(suite)
    private_keys = dict(state.private_keys)
    if force_path or applied.path_required:
        template = tree.leaf(state.own_leaf)
        assert template is not None
        prepared = prepare_update_path(
            tree,
            suite,
            state.own_leaf,
            template,
            signature_priv=state.signature_priv,
            group_id=state.context.group_id,
            leaf_secret=config.random_bytes(suite.hash_len),
            path_secret=config.random_bytes(suite.hash_len),
        )
        tree = prepared.tree
        context = _context_with(state, tree, applied.extensions)
        update_path = encrypt_update_path(prepared, suite, context, excluded=added)
        path_secrets = prepared.secrets.path_secrets
        private_keys.update(prepared.secrets.private_keys)
        commit_secret = prepared.secrets.commit_secret
    content = FramedContent(
        state.context.group_id,
        state.context.epoch,
        me,
        authenticated_data,
        Commit(tuple(refs), update_path),
    )
    # The signature does not cover the confirmation tag, which needs the transcript hash,
    # which needs the signature: sign with a stand-in tag, then put the real one in.
    unconfirmed = sign_content(
        suite, state.signature_priv, wire_format, content, state.context, confirmation_tag=b""
    )
    change = EpochChange(
        tree=tree,
        extensions=applied.extensions,
        commit_secret=commit_secret,
        init_secret=state.secrets.init_secret,
        psk_secret=commit_psk_secret(state, config, applied.psks, resumed),
        private_keys=MappingProxyType(private_keys),
        own_leaf=state.own_leaf,
        reinit=applied.reinit,
    )
    new_state, tag = advance(EpochBase.of(state), change, unconfirmed, None)
    authenticated = dataclasses.replace(
        unconfirmed, auth=dataclasses.replace(unconfirmed.auth, confirmation_tag=tag)
    )
    welcome = _welcome_for(new_state, applied, path_secrets)
    return CreatedCommit(authenticated, new_state, welcome, added, applied.removed)
