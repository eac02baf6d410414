// Simulated clients: each funded account sends bank and token transfers one at a time, reading its nonce from
// a validator as a stateless client (the CLI) would: from any validator that is up, a just-restarted one
// included, but never from one that says it is syncing (the SDK's rule). Some submissions carry a nonce gap,
// go to two validators, or have a bad signature. A receipt a validator returns counts as acknowledged.

import { encode } from "../../node/codec/codec.ts";
import { toHex, utf8 } from "../../node/codec/hex.ts";
import { TransferPayload, type Receipt, type SignedInvocation } from "../../node/codec/types.ts";
import { isExpired } from "../../node/mempool/index.ts";
import { isDisplaced } from "../../node/receipt-waiters.ts";
import { invocationId, invocationSigningDigest } from "../../node/crypto/digests.ts";
import type { SodiumSigner } from "../../node/crypto/sodium.ts";
import { isCairnError } from "../../node/errors.ts";
import type { Rng } from "../sim/prng.ts";
import type { SimNode } from "./node.ts";

export interface Ack {
  readonly id: string;
  readonly height: bigint;
  readonly status: string;
  readonly index: number;
}

export type Kind = "bank" | "token" | "deploy" | "mint";

interface InFlight {
  inv: SignedInvocation;
  id: string;
  kind: Kind;
  /** Submitted with a nonce gap or a bad signature: need never commit. */
  invalid: boolean;
  submittedAt: number;
  /** Submitted after GST to a validator that stays up: must become final within the liveness bound. */
  mustFinish: boolean;
}

export interface ClientEnv {
  readonly chainId: string;
  readonly now: () => number;
  readonly honest: () => SimNode[];
  /** Set once a token contract is deployed (and its owner has minted to everyone). */
  tokenReady: () => boolean;
  readonly accounts: readonly SodiumSigner[];
  readonly acked: Map<string, Ack>;
  fail(message: string): void;
  /** The highest height any honest validator has committed. */
  maxCommitted(): bigint;
  /** The (f+1)-th highest committed height among the other honest validators that are up (null: too few up). */
  levelHeight(node: SimNode): bigint | null;
  /** Sim time of the last partition or heal. */
  topologyChangedAt(): number;
}

export class SimClient {
  private current: InFlight | null = null;
  private waitUntil = 0;
  submitted = 0;
  refused = 0;
  /** Invocations a validator reported expired (a nonce gap outlived the pool's expiry). */
  expired = 0;
  /** Post-GST invocations that must finish, by id, with their deadline. */
  readonly obligations = new Map<string, number>();

  constructor(
    readonly me: SodiumSigner,
    private readonly env: ClientEnv,
    private readonly rng: Rng,
  ) {}

  /** One turn: look after the invocation in flight, or send the next. */
  async tick(allowNew: boolean, postGst: boolean, boundMs: number): Promise<void> {
    const env = this.env;
    const nodes = env.honest().filter((n) => n.up);
    if (nodes.length === 0) return;
    if (this.current !== null) {
      await this.poll(this.current, nodes);
      if (this.current !== null && env.now() > this.waitUntil) this.current = null; // gave up waiting: unknown outcome
      return;
    }
    if (!allowNew) return;
    // Often the validator that came up last: a restarted one is where stale answers would come from.
    const node = this.rng.chance(0.3) ? nodes.reduce((a, b) => (b.upAt > a.upAt ? b : a)) : this.rng.pick(nodes);
    const rt = node.runtime!;
    const sync = rt.services.syncState();
    if (sync.syncing) return; // the SDK reads nonces only from nodes that are level with their peers
    // A validator that came up moments ago and does not say it is behind must not be behind what at least one
    // honest peer that is level has committed (it served stale nonces for seconds after a restart). It may not
    // know while a partition changes (it then hears its peers' heights within a status round).
    const age = env.now() - node.upAt;
    if (age < 4000 && env.now() - env.topologyChangedAt() >= 1500) {
      const level = env.levelHeight(node);
      if (level !== null && sync.height + 6n < level) {
        const core = rt.world.core;
        const heights = env.honest().filter((n) => n.up).map((n) => `${n.index}@${n.runtime?.services.syncState().height}`);
        env.fail(
          `validator ${node.index} up for ${age} ms serves height ${sync.height} while its peers have committed ${level}, without saying syncing ` +
            `(its known height ${sync.knownHeight}, certified ${core.certifiedHeight}, view ${core.view}, highest QC view ${core.highestQc.view}; up: ${heights.join(" ")})`,
        );
      }
    }
    let account;
    try {
      account = await node.call(rt.services.getAccount(this.me.publicKey));
    } catch {
      return; // an injected read fault: the client tries again later
    }
    const gap = this.rng.chance(0.05);
    const nonce = account.nonce + (gap ? 2n : 0n);
    const kind: Kind = env.tokenReady() && this.rng.chance(0.5) ? "token" : "bank";
    const to = this.rng.pick(env.accounts).publicKey;
    // Few distinct amounts: a stale nonce would make byte-identical copies of committed invocations.
    const amount = BigInt(this.rng.int(1, 3));
    let inv =
      kind === "bank"
        ? this.sign({ contract: "bank", version: 0, method: "transfer", input: encode(TransferPayload, { to, amount }), nonce, gasLimit: 10_000n })
        : this.sign({ contract: "token", version: 1, method: "transfer", input: utf8(`${toHex(to)} ${amount}`), nonce, gasLimit: 2_000_000n });
    const badSig = this.rng.chance(0.03);
    if (badSig) {
      const signature = inv.signature.slice();
      signature[0]! ^= 1;
      inv = { ...inv, signature };
    }
    await this.submit(node, inv, kind, gap || badSig, postGst, boundMs);
    if (this.current !== null && this.rng.chance(0.05)) {
      const other = this.rng.pick(nodes);
      if (other.up && !other.runtime!.services.syncState().syncing) await other.call(other.runtime!.services.submit(inv)).catch(() => undefined);
    }
  }

  /** Submits an invocation built elsewhere (the deploy and the mints) and waits for it like any other. */
  async send(inv: SignedInvocation, kind: Kind): Promise<boolean> {
    const nodes = this.env.honest().filter((n) => n.up && !n.runtime!.services.syncState().syncing);
    if (nodes.length === 0) return false;
    await this.submit(this.rng.pick(nodes), inv, kind, false, false, 0);
    return this.current !== null;
  }

  get busy(): boolean {
    return this.current !== null;
  }

  sign(f: { contract: string; version: number; method: string; input: Uint8Array; nonce: bigint; gasLimit: bigint }): SignedInvocation {
    const unsigned = { chainId: this.env.chainId, ...f, invoker: this.me.publicKey, gasPrice: 1n };
    return { ...unsigned, signature: this.me.sign(invocationSigningDigest(unsigned)) };
  }

  private async submit(node: SimNode, inv: SignedInvocation, kind: Kind, invalid: boolean, postGst: boolean, boundMs: number): Promise<void> {
    const id = toHex(invocationId(inv));
    this.submitted++;
    try {
      await node.call(node.runtime!.services.submit(inv));
    } catch (e) {
      if (!isCairnError(e) && !(e instanceof Error && /io|closed|halted|stopping|went down/.test(e.message))) throw e;
      this.refused++;
      return;
    }
    // Half the time the client also waits on the validator it submitted to (`?wait=true`): the receipt its
    // commit delivers is an acknowledgement like one read from the store.
    if (this.rng.chance(0.5)) {
      const rt = node.runtime!;
      void rt.services.waitForReceipts([hexBytes(id)], 3000).then(async ([o]) => {
        if (!o || isDisplaced(o)) return;
        this.acknowledge(id, o);
        // Read your writes: a receipt a wait returned is stored on that validator (unless it died meanwhile).
        const stored = await node.call(rt.services.getReceipt(hexBytes(id))).catch(() => "unreadable" as const);
        if (stored === null && node.runtime === rt) this.env.fail(`validator ${node.index} answered a wait for ${id} with a receipt it had not stored`);
      });
    }
    const now = this.env.now();
    this.current = { inv, id, kind, invalid, submittedAt: now, mustFinish: postGst && !invalid };
    this.waitUntil = now + 4000;
    if (this.current.mustFinish) this.obligations.set(id, now + boundMs);
  }

  /** Asks a validator for the invocation's fate; a receipt is an acknowledgement. */
  private async poll(f: InFlight, nodes: SimNode[]): Promise<void> {
    const node = this.rng.pick(nodes);
    const services = node.runtime!.services;
    const displaced = services.displaced(hexBytes(f.id));
    if (displaced !== null) {
      if (isExpired(displaced)) this.expired++;
      this.obligations.delete(f.id);
      this.current = null;
      return;
    }
    let r;
    try {
      r = await node.call(services.getReceipt(hexBytes(f.id)));
    } catch {
      return;
    }
    if (r === null) return;
    this.acknowledge(f.id, r);
  }

  /** A validator told this client the invocation committed with receipt `r`. */
  private acknowledge(id: string, r: Receipt): void {
    const ack: Ack = { id, height: r.height, status: r.status, index: r.index };
    const before = this.env.acked.get(id);
    if (before !== undefined && (before.height !== ack.height || before.status !== ack.status || before.index !== ack.index)) {
      this.env.fail(`invocation ${id} acknowledged at height ${before.height} (${before.status}) and later at ${ack.height} (${ack.status})`);
    }
    this.env.acked.set(id, ack);
    this.obligations.delete(id);
    if (this.current?.id === id) this.current = null;
  }
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}
