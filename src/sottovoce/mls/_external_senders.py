"""External senders (RFC 9420 sections 12.1.8.1 and 17.4): parties outside the group, such as
a delivery service, listed in the group's ``external_senders`` extension, whose signed
proposals the members accept. They send PublicMessages without a membership tag, signed with
the key the extension lists at their ``sender_index``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from sottovoce.mls._codec import Reader, Writer, decode_all, serialize
from sottovoce.mls._framing import sign_content
from sottovoce.mls._framing_structs import (
    FramedContent,
    MLSMessage,
    PublicMessage,
    Sender,
    SenderType,
    WireFormat,
)
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._key_package import KeyPackage
from sottovoce.mls._proposals import Add, Proposal, ProposalType, Remove
from sottovoce.mls._suite import get_suite
from sottovoce.mls._tree_structs import Credential, Extension, ExtensionType
from sottovoce.mls._welcome import GroupInfo
from sottovoce.mls.errors import DecodeError, InvalidProposal, UnknownSender

# The "External" column of RFC 9420 table 18: Update needs a leaf, ExternalInit a joiner.
_EXTERNAL_PROPOSAL_TYPES = frozenset(
    {
        ProposalType.ADD,
        ProposalType.REMOVE,
        ProposalType.PSK,
        ProposalType.REINIT,
        ProposalType.GROUP_CONTEXT_EXTENSIONS,
    }
)


@dataclass(frozen=True, slots=True)
class ExternalSender:
    """One entry of the ``external_senders`` extension."""

    signature_key: bytes
    credential: Credential

    def encode(self, w: Writer) -> None:
        w.opaque(self.signature_key)
        self.credential.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque(), Credential.decode(r))


def _read_senders(r: Reader) -> list[ExternalSender]:
    return r.vector(ExternalSender.decode)


def external_senders_extension(senders: Sequence[ExternalSender]) -> Extension:
    """The group-context extension listing ``senders``; a sender's index in this list is the
    ``sender_index`` it signs as."""
    data = Writer().vector(senders, lambda w, s: s.encode(w)).bytes()
    return Extension(ExtensionType.EXTERNAL_SENDERS, data)


def external_senders(extensions: Sequence[Extension]) -> tuple[ExternalSender, ...]:
    """The external senders a group's extensions list (none without the extension)."""
    for extension in extensions:
        if extension.extension_type == ExtensionType.EXTERNAL_SENDERS:
            try:
                return tuple(decode_all(extension.extension_data, _read_senders))
            except DecodeError as exc:
                raise InvalidProposal(f"external_senders does not decode: {exc}") from exc
    return ()


def external_sender(extensions: Sequence[Extension], index: int) -> ExternalSender:
    senders = external_senders(extensions)
    if index >= len(senders):
        raise UnknownSender(f"the group lists no external sender {index}")
    return senders[index]


def check_external_proposal(proposal: Proposal) -> None:
    if proposal.proposal_type not in _EXTERNAL_PROPOSAL_TYPES:
        raise InvalidProposal(f"an external sender may not propose {proposal.proposal_type.name}")


def external_proposal(
    group_info: GroupInfo, sender_index: int, signature_priv: bytes, proposal: Proposal
) -> bytes:
    """``proposal`` as a PublicMessage from external sender ``sender_index`` to the epoch
    ``group_info`` describes (only its group id, epoch and cipher suite are used)."""
    check_external_proposal(proposal)
    context: GroupContext = group_info.group_context
    content = FramedContent(
        context.group_id, context.epoch, Sender(SenderType.EXTERNAL, sender_index), b"", proposal
    )
    suite = get_suite(context.cipher_suite)
    # External senders sign without the GroupContext (section 6.1), so the context passed
    # here only satisfies the signature; members verify it all the same way.
    authenticated = sign_content(suite, signature_priv, WireFormat.PUBLIC_MESSAGE, content, context)
    return serialize(MLSMessage(PublicMessage(content, authenticated.auth)))


def _group_info(message: bytes) -> GroupInfo:
    body = decode_all(message, MLSMessage.decode).body
    if not isinstance(body, GroupInfo):
        raise DecodeError("expected a GroupInfo message")
    return body


def external_add_proposal(
    group_info: bytes, sender_index: int, signature_priv: bytes, key_package: KeyPackage
) -> bytes:
    """An Add proposal from an external sender, for the epoch of ``group_info`` (a GroupInfo
    MLSMessage, see ``Group.group_info``); a member commits it and sends the Welcome."""
    proposal = Proposal(Add(key_package))
    return external_proposal(_group_info(group_info), sender_index, signature_priv, proposal)


def external_remove_proposal(
    group_info: bytes, sender_index: int, signature_priv: bytes, leaf_index: int
) -> bytes:
    """A Remove proposal from an external sender, for the epoch of ``group_info``."""
    proposal = Proposal(Remove(leaf_index))
    return external_proposal(_group_info(group_info), sender_index, signature_priv, proposal)
