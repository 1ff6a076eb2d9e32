"""Which proposal lists a commit may carry, and what they do to the group (RFC 9420 sections
12.1, 12.2 and 12.4.2). Pure: a tree and context go in, a new tree and extensions come out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sottovoce.mls._codec import decode_all
from sottovoce.mls._external_senders import external_senders
from sottovoce.mls._framing_structs import Sender, SenderType
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._key_package import KeyPackage, validate_key_package
from sottovoce.mls._proposals import (
    Add,
    ExternalInit,
    GroupContextExtensions,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    ProposalType,
    PSKType,
    ReInit,
    Remove,
    ResumptionPSKUsage,
    Update,
)
from sottovoce.mls._ratchet_tree import RatchetTree, validate_leaf_node
from sottovoce.mls._suite import CipherSuite
from sottovoce.mls._tree_structs import (
    Extension,
    ExtensionType,
    LeafNodeSource,
    RequiredCapabilities,
)
from sottovoce.mls.errors import DecodeError, InvalidKeyPackage, InvalidLeafNode, InvalidProposal

# Proposal types whose presence forces the commit to carry an UpdatePath (section 17.4).
_PATH_REQUIRED = frozenset(
    {
        ProposalType.UPDATE,
        ProposalType.REMOVE,
        ProposalType.EXTERNAL_INIT,
        ProposalType.GROUP_CONTEXT_EXTENSIONS,
    }
)
_DEFAULT_EXTENSIONS = frozenset(int(t) for t in ExtensionType)


@dataclass(frozen=True, slots=True)
class ResolvedProposal:
    """A proposal of a commit with who proposed it; ``by_reference`` if sent on its own."""

    proposal: Proposal
    sender: Sender
    by_reference: bool


@dataclass(frozen=True, slots=True)
class AppliedProposals:
    tree: RatchetTree
    extensions: tuple[Extension, ...]
    added: tuple[tuple[int, KeyPackage], ...]
    """(leaf index, key package) of each new member, in proposal order."""
    removed: tuple[int, ...]
    psks: tuple[PreSharedKeyID, ...]
    external_init: ExternalInit | None
    reinit: ReInit | None
    path_required: bool


def required_capabilities(extensions: Sequence[Extension]) -> RequiredCapabilities | None:
    for extension in extensions:
        if extension.extension_type == ExtensionType.REQUIRED_CAPABILITIES:
            try:
                return decode_all(extension.extension_data, RequiredCapabilities.decode)
            except DecodeError as exc:
                raise InvalidProposal(f"required_capabilities does not decode: {exc}") from exc
    return None


def _check_list(
    suite: CipherSuite,
    context: GroupContext,
    proposals: Sequence[ResolvedProposal],
    committer: Sender,
) -> None:
    """The proposal-list rules of section 12.2 and, for external commits, 12.4.3.2."""
    types = Counter(p.proposal.proposal_type for p in proposals)
    if types[ProposalType.GROUP_CONTEXT_EXTENSIONS] > 1:
        raise InvalidProposal("more than one GroupContextExtensions proposal")
    if types[ProposalType.REINIT] and len(proposals) > 1:
        raise InvalidProposal("a ReInit proposal must be the only proposal of its commit")
    changed_leaves = [
        p.sender.index if isinstance(p.proposal.body, Update) else p.proposal.body.removed
        for p in proposals
        if isinstance(p.proposal.body, Update | Remove)
    ]
    if len(set(changed_leaves)) != len(changed_leaves):
        raise InvalidProposal("two Update or Remove proposals affect the same leaf")
    psk_ids = [p.proposal.body.psk for p in proposals if isinstance(p.proposal.body, PreSharedKey)]
    if len(set(psk_ids)) != len(psk_ids):
        raise InvalidProposal("two PreSharedKey proposals name the same PSK")
    _check_resumption_usage(context, psk_ids, committer)
    for p in proposals:
        body = p.proposal.body
        if isinstance(body, PreSharedKey):
            _check_psk_id(suite, body.psk)
        if isinstance(body, ExternalInit) and p.by_reference:
            raise InvalidProposal("an ExternalInit proposal must be sent inline")
    if committer.sender_type is SenderType.NEW_MEMBER_COMMIT:
        _check_external_commit_list(proposals)
    else:
        if types[ProposalType.EXTERNAL_INIT]:
            raise InvalidProposal("ExternalInit is only allowed in an external commit")
        for p in proposals:
            body = p.proposal.body
            if isinstance(body, Update) and p.sender == committer:
                raise InvalidProposal("a commit must not carry an Update of its committer")
            if isinstance(body, Remove) and body.removed == committer.index:
                raise InvalidProposal("a commit must not remove its committer")


def _check_external_commit_list(proposals: Sequence[ResolvedProposal]) -> None:
    types = Counter(p.proposal.proposal_type for p in proposals)
    if types[ProposalType.EXTERNAL_INIT] != 1:
        raise InvalidProposal("an external commit needs exactly one ExternalInit proposal")
    if types[ProposalType.REMOVE] > 1:
        raise InvalidProposal("an external commit may remove at most one (its old) leaf")
    allowed = {ProposalType.EXTERNAL_INIT, ProposalType.REMOVE, ProposalType.PSK}
    if set(types) - allowed:
        raise InvalidProposal("an external commit may only carry ExternalInit, Remove and PSKs")
    if any(p.by_reference for p in proposals):
        raise InvalidProposal("an external commit must carry its proposals inline")


def _check_psk_id(suite: CipherSuite, psk: PreSharedKeyID) -> None:
    if len(psk.psk_nonce) != suite.hash_len:
        raise InvalidProposal(f"PSK nonce must be {suite.hash_len} bytes")


def _check_resumption_usage(
    context: GroupContext, psk_ids: Sequence[PreSharedKeyID], committer: Sender
) -> None:
    """A reinit or branch resumption PSK ties a new group to an old one: it belongs only in
    the commit that takes the new group from epoch 0 to 1 (sections 11.2, 11.3), at most one."""
    resuming = [
        psk
        for psk in psk_ids
        if psk.psk_type is PSKType.RESUMPTION and psk.usage is not ResumptionPSKUsage.APPLICATION
    ]
    if not resuming:
        return
    if context.epoch != 0 or committer.sender_type is not SenderType.MEMBER:
        raise InvalidProposal(
            "a reinit or branch PSK is only allowed in a new group's first commit"
        )
    if len(resuming) > 1:
        raise InvalidProposal("a commit may carry at most one reinit or branch PSK")


def check_extensions_supported(tree: RatchetTree, extensions: Sequence[Extension]) -> None:
    """Every member must support a non-default extension and what the group requires; an
    ``external_senders`` extension must decode."""
    external_senders(extensions)
    required = required_capabilities(extensions)
    wanted = {e.extension_type for e in extensions} - _DEFAULT_EXTENSIONS
    for i, leaf in tree.members():
        caps = leaf.capabilities
        if not wanted <= set(caps.extensions):
            raise InvalidProposal(f"member {i} does not support the group's extensions")
        if required is not None and not (
            set(required.extension_types) - _DEFAULT_EXTENSIONS <= set(caps.extensions)
            and set(required.proposal_types) <= set(caps.proposals) | set(ProposalType)
            and set(required.credential_types) <= set(caps.credentials)
        ):
            raise InvalidProposal(f"member {i} lacks a capability the group would require")


def apply_proposals(
    suite: CipherSuite,
    context: GroupContext,
    tree: RatchetTree,
    proposals: Sequence[ResolvedProposal],
    committer: Sender,
    now: int | None,
) -> AppliedProposals:
    """Validate ``proposals`` as the proposal list of one commit and apply them in the order of
    section 12.4.2: extensions, updates, removes, adds. Raises ``InvalidProposal``."""
    _check_list(suite, context, proposals, committer)
    bodies = [p.proposal.body for p in proposals]
    extensions = context.extensions
    for body in bodies:
        if isinstance(body, GroupContextExtensions):
            extensions = body.extensions
            check_extensions_supported(tree, extensions)
    required = required_capabilities(extensions)
    try:
        for p in proposals:
            if isinstance(p.proposal.body, Update):
                tree = _apply_update(suite, context, tree, p.proposal.body, p.sender, required)
        for body in bodies:
            if isinstance(body, Remove):
                if tree.leaf(body.removed) is None:
                    raise InvalidProposal(f"Remove of leaf {body.removed}, which is blank")
                tree = tree.with_leaf_removed(body.removed)
        added = []
        for body in bodies:
            if isinstance(body, Add):
                _validate_add(suite, context, tree, body.key_package, required, now)
                tree, index = tree.with_leaf_added(body.key_package.leaf_node)
                added.append((index, body.key_package))
    except (InvalidLeafNode, InvalidKeyPackage) as exc:
        raise InvalidProposal(str(exc)) from exc
    types = {p.proposal.proposal_type for p in proposals}
    return AppliedProposals(
        tree=tree,
        extensions=extensions,
        added=tuple(added),
        removed=tuple(b.removed for b in bodies if isinstance(b, Remove)),
        psks=tuple(b.psk for b in bodies if isinstance(b, PreSharedKey)),
        external_init=next((b for b in bodies if isinstance(b, ExternalInit)), None),
        reinit=next((b for b in bodies if isinstance(b, ReInit)), None),
        path_required=not proposals or bool(types & _PATH_REQUIRED),
    )


def _apply_update(
    suite: CipherSuite,
    context: GroupContext,
    tree: RatchetTree,
    update: Update,
    sender: Sender,
    required: RequiredCapabilities | None,
) -> RatchetTree:
    if sender.sender_type is not SenderType.MEMBER:
        raise InvalidProposal("only members can propose an Update")
    current = tree.leaf(sender.index)
    if current is None:
        raise InvalidProposal(f"Update from leaf {sender.index}, which is blank")
    if update.leaf_node.encryption_key == current.encryption_key:
        raise InvalidProposal("an Update must change the leaf's encryption key")
    validate_leaf_node(
        tree,
        suite,
        update.leaf_node,
        leaf_index=sender.index,
        group_id=context.group_id,
        source=LeafNodeSource.UPDATE,
        required=required,
    )
    return tree.with_leaf_updated(sender.index, update.leaf_node)


def _validate_add(
    suite: CipherSuite,
    context: GroupContext,
    tree: RatchetTree,
    key_package: KeyPackage,
    required: RequiredCapabilities | None,
    now: int | None,
) -> None:
    validate_key_package(key_package, suite)
    if key_package.cipher_suite != context.cipher_suite:
        raise InvalidProposal("Add of a KeyPackage for another cipher suite")
    validate_leaf_node(
        tree,
        suite,
        key_package.leaf_node,
        leaf_index=tree.n_leaves,
        group_id=context.group_id,
        source=LeafNodeSource.KEY_PACKAGE,
        required=required,
        now=now,
    )
