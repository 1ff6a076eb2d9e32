"""The rules tying a new group to the old one it branches from or reinitializes (RFC 9420
sections 11.2, 11.3 and 12.4.3.1), checked by its creator and by every joiner alike.

The new group's first commit carries one resumption PSK with usage ``reinit`` or ``branch``,
naming an epoch of the old group; only members of that epoch know its ``resumption_psk``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._group_state import GroupState
from sottovoce.mls._proposals import PreSharedKeyID, PSKType, ResumptionPSKUsage
from sottovoce.mls._psk import ResumptionPSKs
from sottovoce.mls._tree_structs import Credential
from sottovoce.mls.errors import (
    ResumptionEpochMismatch,
    ResumptionGroupMissing,
    ResumptionMembersMismatch,
    ResumptionParametersMismatch,
)

RESUMING_USAGES = frozenset({ResumptionPSKUsage.REINIT, ResumptionPSKUsage.BRANCH})


def resumption_psk_id(old: GroupState, usage: ResumptionPSKUsage, nonce: bytes) -> PreSharedKeyID:
    """The PSK naming ``old``'s current epoch, for a new group's first commit."""
    return PreSharedKeyID(
        PSKType.RESUMPTION,
        nonce,
        usage=usage,
        psk_group_id=old.context.group_id,
        psk_epoch=old.context.epoch,
    )


def resuming_psk(psks: Sequence[PreSharedKeyID]) -> PreSharedKeyID | None:
    """The one reinit or branch PSK of a Welcome, if any."""
    found = [p for p in psks if p.psk_type is PSKType.RESUMPTION and p.usage in RESUMING_USAGES]
    if len(found) > 1:
        raise ResumptionParametersMismatch("a Welcome may carry only one reinit or branch PSK")
    return found[0] if found else None


def resumed_psks(old: GroupState | None, psk: PreSharedKeyID | None) -> ResumptionPSKs | None:
    """Where a joiner finds the PSK ``psk`` names: the kept epochs of the old group ``old``."""
    if psk is None:
        if old is not None:
            raise ResumptionGroupMissing("the Welcome does not resume the group that was given")
        return None
    if old is None or old.context.group_id != psk.psk_group_id:
        raise ResumptionGroupMissing("the Welcome resumes a group whose state was not given")
    if psk.psk_epoch not in old.resumption_psks:
        raise ResumptionEpochMismatch(
            f"epoch {psk.psk_epoch} of the old group is not one this member keeps"
        )
    if psk.usage is ResumptionPSKUsage.REINIT:
        if old.reinit is None:
            raise ResumptionParametersMismatch("the old group has no committed ReInit")
        if psk.psk_epoch != old.context.epoch:
            raise ResumptionEpochMismatch("a reinit PSK must name the old group's last epoch")
    return ResumptionPSKs(old.context.group_id, old.resumption_psks)


def check_resumed_group(
    old: GroupState, psk: PreSharedKeyID, context: GroupContext, members: Iterable[Credential]
) -> None:
    """The new group (``context`` and the credentials of its ``members``) against the old
    one: a reinit keeps the members and takes the ReInit's parameters; a branch takes a new
    id, the same version and cipher suite, and a subset of the members."""
    old_members = {leaf.credential for _, leaf in old.tree.members()}
    new_members = set(members)
    if psk.usage is ResumptionPSKUsage.REINIT:
        reinit = old.reinit
        if reinit is None:
            raise ResumptionParametersMismatch("the old group has no committed ReInit")
        if (
            context.group_id != reinit.group_id
            or context.version != reinit.version
            or context.cipher_suite != reinit.cipher_suite
            or context.extensions != reinit.extensions
        ):
            raise ResumptionParametersMismatch("the new group is not the one the ReInit describes")
        if new_members != old_members:
            raise ResumptionMembersMismatch("a reinitialized group must keep the same members")
        return
    if context.group_id == old.context.group_id:
        raise ResumptionParametersMismatch("a branch needs a group id of its own")
    if context.version != old.context.version or context.cipher_suite != old.suite.suite_id:
        raise ResumptionParametersMismatch("a branch keeps the old group's version and suite")
    if not new_members <= old_members:
        raise ResumptionMembersMismatch("a branch may only take members of the old group")
