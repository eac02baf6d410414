// The mutual handshake, as a pure state machine (no sockets) so tests can drive it from raw clients.
//
//   both sides:  hello {version, chainId, validatorIndex, publicKey, nonce, ephemeralKey}
//   both sides:  auth  {signature = sign(validatorKey, k12("cairn.handshake", transcript(role, dialerHello, listenerHello)))}
//
// Each side sends its hello at once, answers the peer's hello with its auth, and is authenticated when the
// peer's auth verifies against the key the configuration names for the claimed index. The fresh nonces
// make every transcript unique (no replay); the role inside the signed transcript stops a signature made
// as dialer from being reflected back as a listener's; the signed ephemeral keys give the session keys that
// seal every later frame. Only the lower index dials the higher one, so a pair never has two live dials.

import { encode, enumeration, struct } from "../codec/codec.ts";
import { bytesEqual } from "../codec/hex.ts";
import { NET_PROTOCOL_VERSION, NetHello, type NetAuth, type NetHello as NetHelloT } from "../codec/net.ts";
import { k12 } from "../crypto/hash.ts";
import { verifyStrict } from "../crypto/sodium.ts";
import { ephemeralKeyPair, randomBytes, sessionKeys, type EphemeralKeyPair, type SessionKeys } from "./cipher.ts";
import type { CloseReason } from "./errors.ts";

export interface HandshakeSigner {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export type HandshakeRole = "dialer" | "listener";

export const HandshakeTranscript = struct({
  role: enumeration(["dialer", "listener"] as const),
  dialer: NetHello,
  listener: NetHello,
});

/** The digest the side playing `role` signs. */
export function handshakeDigest(role: HandshakeRole, dialer: NetHelloT, listener: NetHelloT): Uint8Array {
  return k12("cairn.handshake", encode(HandshakeTranscript, { role, dialer, listener }));
}

export interface HandshakeOptions {
  role: HandshakeRole;
  chainId: string;
  selfIndex: number;
  signer: HandshakeSigner;
  /** Public key of every validator, by index. */
  validatorKeys: readonly Uint8Array[];
  /** The dialer knows whom it dialed. */
  expectedPeer?: number;
}

export type HandshakeFailure = { ok: false; reason: CloseReason; detail: string };
export type HelloResult = { ok: true; auth: NetAuth } | HandshakeFailure;
export type AuthResult = { ok: true; peerIndex: number; keys: SessionKeys } | HandshakeFailure;

export class Handshake {
  readonly hello: NetHelloT;
  private readonly ephemeral: EphemeralKeyPair;
  private peerHello: NetHelloT | null = null;
  private peerIndex = -1;

  constructor(private readonly opts: HandshakeOptions) {
    this.ephemeral = ephemeralKeyPair();
    this.hello = {
      protocolVersion: NET_PROTOCOL_VERSION,
      chainId: opts.chainId,
      validatorIndex: opts.selfIndex,
      publicKey: opts.signer.publicKey,
      nonce: randomBytes(32),
      ephemeralKey: this.ephemeral.publicKey,
    };
  }

  /** Index the peer claimed in its hello (-1 before it arrived); trusted only once onAuth succeeded. */
  get claimedPeer(): number {
    return this.peerIndex;
  }

  get helloReceived(): boolean {
    return this.peerHello !== null;
  }

  onHello(h: NetHelloT): HelloResult {
    if (this.peerHello !== null) return fail("unexpected_message", "second hello");
    if (h.protocolVersion !== NET_PROTOCOL_VERSION) {
      return fail("protocol_version", `peer speaks protocol ${h.protocolVersion}, we speak ${NET_PROTOCOL_VERSION}`);
    }
    if (h.chainId !== this.opts.chainId) return fail("wrong_chain", `peer is on chain ${JSON.stringify(h.chainId)}`);
    const i = h.validatorIndex;
    const configured = this.opts.validatorKeys[i];
    if (configured === undefined || !bytesEqual(configured, h.publicKey) || i === this.opts.selfIndex) {
      return fail("stranger", `key ${hex(h.publicKey)} is not validator ${i}'s`);
    }
    if (this.opts.role === "dialer" && i !== this.opts.expectedPeer) {
      return fail("wrong_direction", `dialed validator ${this.opts.expectedPeer} but validator ${i} answered`);
    }
    if (this.opts.role === "listener" && i > this.opts.selfIndex) {
      return fail("wrong_direction", `validator ${i} dialed us (${this.opts.selfIndex}); only lower indexes dial higher ones`);
    }
    this.peerHello = h;
    this.peerIndex = i;
    const [dialer, listener] = this.ordered(h);
    return { ok: true, auth: { signature: this.opts.signer.sign(handshakeDigest(this.opts.role, dialer, listener)) } };
  }

  onAuth(a: NetAuth): AuthResult {
    const peer = this.peerHello;
    if (peer === null) return fail("unexpected_message", "auth before hello");
    const [dialer, listener] = this.ordered(peer);
    const peerRole: HandshakeRole = this.opts.role === "dialer" ? "listener" : "dialer";
    if (!verifyStrict(a.signature, handshakeDigest(peerRole, dialer, listener), this.opts.validatorKeys[this.peerIndex]!)) {
      return fail("bad_proof", `validator ${this.peerIndex}'s handshake signature does not verify`);
    }
    const keys = sessionKeys(this.opts.role === "dialer", this.ephemeral, peer.ephemeralKey);
    if (keys === null) return fail("bad_proof", "unusable ephemeral key");
    return { ok: true, peerIndex: this.peerIndex, keys };
  }

  private ordered(peer: NetHelloT): [NetHelloT, NetHelloT] {
    return this.opts.role === "dialer" ? [this.hello, peer] : [peer, this.hello];
  }
}

function fail(reason: CloseReason, detail: string): HandshakeFailure {
  return { ok: false, reason, detail };
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex").slice(0, 16) + "…";
}
