// ts-mls members driven over stdin/stdout: one JSON request per line, one JSON reply per line.
// Bytes travel as hex; every MLS object travels as an encoded MLSMessage (or a TLS-encoded
// ratchet tree), so the peer sees exactly what it would see on the wire.
//
// Request:  {"id": 1, "op": "add", "member": "alice", ...}
// Reply:    {"id": 1, "ok": true, "result": {...}}  or  {"id": 1, "ok": false, "error": "..."}
//
// Members are held by name: "key_package" creates one (waiting to create or join a group),
// every other operation acts on that member's current group state; "reset" forgets them all.

import { createInterface } from "node:readline";
import {
  branchGroup,
  bytesToBase64,
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  createProposal,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  joinGroupFromBranch,
  joinGroupFromReinit,
  makePskIndex,
  mlsExporter,
  processPrivateMessage,
  processPublicMessage,
  reinitCreateNewGroup,
  reinitGroup,
} from "ts-mls";
import { createGroupInfo } from "ts-mls/createCommit.js";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";

const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const impl = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
const text = new TextEncoder();

/** name -> { keyPackage, privatePackage, psks, state (ClientState once in a group) } */
const members = new Map();

const fromHex = (hex) => Uint8Array.from(Buffer.from(hex, "hex"));
const toHex = (bytes) => Buffer.from(bytes).toString("hex");

function member(name) {
  const found = members.get(name);
  if (found === undefined) throw new Error(`no member named ${name}`);
  return found;
}

function inGroup(name) {
  const found = member(name);
  if (found.state === undefined) throw new Error(`${name} is not in a group`);
  return found;
}

// External PSKs this member knows, by base64 of the PSK id (ts-mls's lookup key).
const pskIndex = (m) => makePskIndex(m.state, m.psks);

function decodeAs(hex, wireformat) {
  const decoded = decodeMlsMessage(fromHex(hex), 0);
  if (decoded === undefined) throw new Error(`bytes do not decode as an MLSMessage`);
  const [message, length] = decoded;
  if (length !== hex.length / 2) throw new Error(`trailing bytes after the MLSMessage`);
  if (!wireformat.includes(message.wireformat)) {
    throw new Error(`expected ${wireformat.join(" or ")}, got ${message.wireformat}`);
  }
  return message;
}

const addProposal = (hex) => ({
  proposalType: "add",
  add: { keyPackage: decodeAs(hex, ["mls_key_package"]).keyPackage },
});
const removeProposal = (leaf) => ({ proposalType: "remove", remove: { removed: leaf } });

const wrap = (wireformat, field, value) =>
  toHex(encodeMlsMessage({ version: "mls10", wireformat, [field]: value }));

function describe(state) {
  const members = [];
  state.ratchetTree.forEach((node, index) => {
    if (index % 2 === 0 && node?.nodeType === "leaf") {
      const identity = node.leaf.credential.identity;
      members.push({ leaf: index / 2, identity: Buffer.from(identity).toString() });
    }
  });
  return {
    epoch: Number(state.groupContext.epoch),
    epoch_authenticator: toHex(state.keySchedule.epochAuthenticator),
    own_leaf: state.privatePath.leafIndex,
    members,
    active: state.groupActiveState.kind === "active",
  };
}

async function commit(name, options) {
  const m = inGroup(name);
  const result = await createCommit(
    { state: m.state, cipherSuite: impl, pskIndex: pskIndex(m) },
    { ratchetTreeExtension: true, ...options },
  );
  m.state = result.newState;
  return {
    commit: toHex(encodeMlsMessage(result.commit)),
    welcome: result.welcome && wrap("mls_welcome", "welcome", result.welcome),
    ratchet_tree: toHex(encodeRatchetTree(m.state.ratchetTree)),
    ...describe(m.state),
  };
}

const ops = {
  async key_package({ member: name }) {
    const credential = { credentialType: "basic", identity: text.encode(name) };
    const kp = await generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], impl);
    const { publicPackage: keyPackage, privatePackage } = kp;
    members.set(name, { keyPackage, privatePackage, psks: {} });
    return { key_package: wrap("mls_key_package", "keyPackage", kp.publicPackage) };
  },

  async create_group({ member: name, group_id }) {
    const m = member(name);
    m.state = await createGroup(fromHex(group_id), m.keyPackage, m.privatePackage, [], impl);
    return describe(m.state);
  },

  async add({ member: name, key_packages, public: asPublic = false, tree_in_welcome = true }) {
    return commit(name, {
      extraProposals: key_packages.map(addProposal),
      wireAsPublicMessage: asPublic,
      ratchetTreeExtension: tree_in_welcome,
    });
  },

  async remove({ member: name, leaves, add = [], public: asPublic = false }) {
    const proposals = [...leaves.map(removeProposal), ...add.map(addProposal)];
    return commit(name, { extraProposals: proposals, wireAsPublicMessage: asPublic });
  },

  // Commits the proposals received so far. ts-mls adds an UpdatePath when there are none
  // (an empty commit) or when they include an update or a remove, not for adds alone.
  async update({ member: name, public: asPublic = false }) {
    return commit(name, { wireAsPublicMessage: asPublic });
  },

  async add_psk({ member: name, psk_id, secret }) {
    member(name).psks[bytesToBase64(fromHex(psk_id))] = fromHex(secret);
    return {};
  },

  // A commit carrying an external PSK proposal by value, with a fresh nonce.
  async commit_psk({ member: name, psk_id, public: asPublic = false }) {
    const preSharedKeyId = {
      psktype: "external",
      pskId: fromHex(psk_id),
      pskNonce: crypto.getRandomValues(new Uint8Array(impl.kdf.size)),
    };
    const proposal = { proposalType: "psk", psk: { preSharedKeyId } };
    return commit(name, { extraProposals: [proposal], wireAsPublicMessage: asPublic });
  },

  // A commit setting the group context extensions to an empty required_capabilities, with
  // removes in the same commit if asked.
  async commit_extensions({ member: name, remove = [], public: asPublic = false }) {
    const requiredCapabilities = new Uint8Array([0, 0, 0]); // three empty vectors
    const extensions = [{ extensionType: "required_capabilities", extensionData: requiredCapabilities }];
    const proposals = [
      { proposalType: "group_context_extensions", groupContextExtensions: { extensions } },
      ...remove.map(removeProposal),
    ];
    return commit(name, { extraProposals: proposals, wireAsPublicMessage: asPublic });
  },

  // A proposal by reference, for another member to commit: {"remove": leaf} or {"add": hex}.
  async propose({ member: name, remove, add, public: asPublic = false }) {
    const m = inGroup(name);
    const proposal = remove !== undefined ? removeProposal(remove) : addProposal(add);
    const result = await createProposal(m.state, asPublic, proposal, impl);
    m.state = result.newState;
    return { message: toHex(encodeMlsMessage(result.message)) };
  },

  // RFC 9420 section 12.4.3.2: external_pub holds the struct ExternalPub, whose only field is
  // an opaque HPKEPublicKey<V>. ts-mls 1.6.4 writes (and reads) the bare key instead, which
  // other implementations cannot decode; "as_ts_mls" keeps that to show the difference.
  async group_info({ member: name, as_ts_mls = false }) {
    const state = inGroup(name).state;
    if (as_ts_mls) {
      const info = await createGroupInfoWithExternalPubAndRatchetTree(state, [], impl);
      return { group_info: wrap("mls_group_info", "groupInfo", info) };
    }
    const keyPair = await impl.hpke.deriveKeyPair(state.keySchedule.externalSecret);
    const key = await impl.hpke.exportPublicKey(keyPair.publicKey);
    if (key.length >= 64) throw new Error("a one-byte varint length needs a key under 64 bytes");
    const extensions = [
      { extensionType: "external_pub", extensionData: new Uint8Array([key.length, ...key]) },
      { extensionType: "ratchet_tree", extensionData: encodeRatchetTree(state.ratchetTree) },
    ];
    const info = await createGroupInfo(
      state.groupContext,
      state.confirmationTag,
      state,
      extensions,
      impl,
    );
    return { group_info: wrap("mls_group_info", "groupInfo", info) };
  },

  async join_external({ member: name, group_info }) {
    const m = member(name);
    const info = decodeAs(group_info, ["mls_group_info"]).groupInfo;
    const result = await joinGroupExternal(info, m.keyPackage, m.privatePackage, false, impl);
    m.state = result.newState;
    const commit = wrap("mls_public_message", "publicMessage", result.publicMessage);
    return { commit, ...describe(m.state) };
  },

  async join({ member: name, welcome, ratchet_tree }) {
    const m = member(name);
    const tree = ratchet_tree == null ? undefined : decodeTree(ratchet_tree);
    const message = decodeAs(welcome, ["mls_welcome"]);
    m.state = await joinGroup(
      message.welcome,
      m.keyPackage,
      m.privatePackage,
      pskIndex(m),
      impl,
      tree,
    );
    return describe(m.state);
  },

  async process({ member: name, message }) {
    const m = inGroup(name);
    const decoded = decodeAs(message, ["mls_public_message", "mls_private_message"]);
    // ts-mls 1.6.4's processMessage hands PrivateMessages an empty PSK index whatever it is
    // given, so commits with PSKs would fail; its two halves take the index as they should.
    const result =
      decoded.wireformat === "mls_private_message"
        ? await processPrivateMessage(m.state, decoded.privateMessage, pskIndex(m), impl)
        : await processPublicMessage(m.state, decoded.publicMessage, pskIndex(m), impl);
    m.state = result.newState;
    if (result.kind === "applicationMessage") {
      return { kind: "application", data: toHex(result.message), ...describe(m.state) };
    }
    if (result.actionTaken !== "accept") throw new Error(`message was ${result.actionTaken}ed`);
    // A proposal or a commit: the epoch in the reply tells which.
    return { kind: "handshake", ...describe(m.state) };
  },

  async encrypt({ member: name, data, authenticated_data = "" }) {
    const m = inGroup(name);
    const aad = fromHex(authenticated_data);
    const result = await createApplicationMessage(m.state, fromHex(data), impl, aad);
    m.state = result.newState;
    return { message: wrap("mls_private_message", "privateMessage", result.privateMessage) };
  },

  async state({ member: name }) {
    return describe(inGroup(name).state);
  },

  async export({ member: name, label, context, length }) {
    const m = inGroup(name);
    const secret = await mlsExporter(
      m.state.keySchedule.exporterSecret,
      label,
      fromHex(context),
      length,
      impl,
    );
    return { secret: toHex(secret) };
  },

  // -- resumption (RFC 9420 sections 11.2, 11.3): a member keeps its old group's state and
  // gets a second key package, with which it starts or joins the new group.

  async resumption_key_package({ member: name }) {
    const m = inGroup(name);
    const credential = { credentialType: "basic", identity: text.encode(name) };
    const kp = await generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], impl);
    m.next = { keyPackage: kp.publicPackage, privatePackage: kp.privatePackage };
    return { key_package: wrap("mls_key_package", "keyPackage", kp.publicPackage) };
  },

  // A commit of a ReInit proposal by value; the group is then suspended, awaiting the new one.
  async reinit({ member: name, group_id }) {
    const m = inGroup(name);
    const result = await reinitGroup(m.state, fromHex(group_id), "mls10", SUITE, [], impl);
    m.state = result.newState;
    return { commit: toHex(encodeMlsMessage(result.commit)), ...describe(m.state) };
  },

  async reinit_continue({ member: name, key_packages }) {
    const m = inGroup(name);
    const { reinit } = m.state.groupActiveState;
    if (reinit === undefined) throw new Error(`${name}'s group awaits no reinit`);
    const kps = key_packages.map((hex) => decodeAs(hex, ["mls_key_package"]).keyPackage);
    const result = await reinitCreateNewGroup(
      m.state, m.next.keyPackage, m.next.privatePackage, kps,
      reinit.groupId, reinit.cipherSuite, reinit.extensions,
    );
    return startedResumed(m, result);
  },

  async branch({ member: name, group_id, key_packages }) {
    const m = inGroup(name);
    const kps = key_packages.map((hex) => decodeAs(hex, ["mls_key_package"]).keyPackage);
    const result = await branchGroup(
      m.state, m.next.keyPackage, m.next.privatePackage, kps, fromHex(group_id), impl,
    );
    return startedResumed(m, result);
  },

  // Join a group started by a reinit ("reinit") or a branch ("branch") of this member's group.
  async join_resumed({ member: name, welcome, ratchet_tree, usage }) {
    const m = inGroup(name);
    const tree = ratchet_tree == null ? undefined : decodeTree(ratchet_tree);
    const message = decodeAs(welcome, ["mls_welcome"]).welcome;
    const { keyPackage, privatePackage } = m.next;
    m.state = usage === "reinit"
      ? await joinGroupFromReinit(m.state, message, keyPackage, privatePackage, tree)
      : await joinGroupFromBranch(m.state, message, keyPackage, privatePackage, tree, impl);
    Object.assign(m, m.next);
    return describe(m.state);
  },

  // Forget every member, so one process can serve test after test.
  async reset() {
    members.clear();
    return {};
  },
};

// The member moves to the new group it created; its old group's state is dropped.
function startedResumed(m, result) {
  m.state = result.newState;
  Object.assign(m, m.next);
  return {
    welcome: wrap("mls_welcome", "welcome", result.welcome),
    ratchet_tree: toHex(encodeRatchetTree(m.state.ratchetTree)),
    ...describe(m.state),
  };
}

function decodeTree(hex) {
  const decoded = decodeRatchetTree(fromHex(hex), 0);
  if (decoded === undefined) throw new Error("ratchet tree does not decode");
  return decoded[0];
}

async function handle(line) {
  let id = null;
  try {
    const request = JSON.parse(line);
    id = request.id ?? null;
    const op = ops[request.op];
    if (op === undefined) throw new Error(`unknown op ${request.op}`);
    return { id, ok: true, result: await op(request) };
  } catch (error) {
    const name = error?.constructor?.name ?? "Error";
    return { id, ok: false, error: `${name}: ${error?.message ?? String(error)}` };
  }
}

// Requests are answered strictly in order: each one changes state the next may depend on.
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === "") continue;
  process.stdout.write(JSON.stringify(await handle(line)) + "\n");
}
