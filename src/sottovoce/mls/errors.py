"""Exceptions of the MLS library. Every rejection names the rule that failed.

After any of these is raised by a group operation, the group state is unchanged.
"""

from __future__ import annotations


class MLSError(Exception):
    """Base of every error the MLS library raises."""


class DecodeError(MLSError):
    """Bytes that are not a valid TLS-presentation encoding of the expected structure."""


class UnsupportedCipherSuite(MLSError):
    """A cipher suite, protocol version, credential or extension type this library cannot use."""


class CryptoError(MLSError):
    """AEAD or HPKE decryption failed (wrong key, tampered ciphertext or tampered AAD), or a
    public key was unusable (wrong length, or an X25519 point of small order)."""


class InvalidSignature(MLSError):
    """A signature or membership tag does not verify."""


class ValidationError(MLSError):
    """A structure decoded fine but breaks an RFC 9420 rule (the message says which)."""


class InvalidTree(ValidationError):
    """A ratchet tree that fails validation: hashes, leaves, unmerged leaves."""


class InvalidKeyPackage(ValidationError):
    """A KeyPackage that fails validation (signature, lifetime, capabilities, init key)."""


class InvalidProposal(ValidationError):
    """A proposal or proposal list that RFC 9420 section 12.2 forbids."""


class InvalidCommit(ValidationError):
    """A commit that fails validation (path, confirmation tag, proposal rules)."""


class InvalidWelcome(ValidationError):
    """A Welcome or GroupInfo that cannot be joined from: no key package, bad signature."""


class CredentialRejected(ValidationError):
    """The application's credential validator refused a member's credential."""


class WrongEpoch(ValidationError):
    """A message for an epoch other than the group's current one."""


class WrongGroup(ValidationError):
    """A message for another group id."""


class UnknownSender(ValidationError):
    """A sender leaf index that is not a member of the group."""


class GenerationError(ValidationError):
    """A secret-tree generation that was already used, is too far ahead, or fell out of the
    out-of-order window."""


class InvalidLeafNode(ValidationError):
    """A LeafNode that RFC 9420 section 7.3 rejects: signature, capabilities, source, keys."""


class NotAMember(MLSError):
    """This member was removed from the group: it can no longer send or read."""


class GroupClosed(MLSError):
    """A ReInit was committed: this group takes no new messages; continue in the new group."""


class ResumptionError(ValidationError):
    """A branch or reinit (RFC 9420 sections 11.2 and 11.3) that breaks the rules tying the
    new group to the old one; the subclasses say which rule."""


class ResumptionGroupMissing(ResumptionError):
    """The old group's state is needed but was not given, or another group's was, or one
    was given for a Welcome that resumes no group."""


class ResumptionEpochMismatch(ResumptionError):
    """The resumption PSK names an epoch the rules forbid or this member no longer keeps, or
    the new group does not start at epoch 1."""


class ResumptionMembersMismatch(ResumptionError):
    """The new group's members are not the old group's (reinit) or not a subset of them
    (branch), judged by credential."""


class ResumptionParametersMismatch(ResumptionError):
    """The new group's id, version, cipher suite or extensions break the rules: not those of
    the ReInit, the same id as the old group for a branch, or no ReInit to continue."""
