// Which unauthenticated inbound connections a validator holds while their handshakes run.
//
// Two paths, so strangers can never crowd out a validator:
// - General pool (strangers): at most maxPendingHandshakes in total, maxPendingHandshakesPerHost per source
//   address; a connection beyond either is refused on accept.
// - Reserved path: a connection whose source address is that of a configured validator allowed to dial us
//   (a lower index) never touches the general pool. Per such host it may hold reservedHandshakesPerPeer
//   unclaimed connections per validator there; a newer one evicts the oldest unclaimed one instead of being
//   refused. Once its hello claims validator i (a key configured at that host), it moves to i's own
//   allowance of reservedHandshakesPerPeer, where again the newest evicts the oldest. On one machine every
//   peer shares 127.0.0.1, so the address alone proves nothing; eviction (newest wins) is what guarantees
//   that a restarting validator's dial gets a slot, since its real dial is always the latest one.

import type { NetLimits } from "./limits.ts";

export type RefusalReason = "too_many_pending" | "too_many_pending_from_host";

export type Admission<C> =
  | { kind: "general" }
  | { kind: "reserved"; evict: C | null }
  | { kind: "refused"; reason: RefusalReason };

interface Pending {
  host: string;
  reserved: boolean;
  /** Validator index the hello claimed on the reserved path, -1 before (or when it claims no one here). */
  claim: number;
}

export interface PeerHosts {
  /** Lower-index validators configured at this source address (they may dial us). */
  dialersAt(host: string): number;
  /** Whether validator `index` may dial us from this source address. */
  isDialerAt(index: number, host: string): boolean;
}

export class InboundAdmission<C> {
  /** Insertion order is age: the first match in iteration is the oldest. */
  private readonly pending = new Map<C, Pending>();
  private general = 0;
  private readonly generalByHost = new Map<string, number>();
  private readonly unclaimedByHost = new Map<string, number>();
  private readonly claims = new Map<number, C[]>();

  constructor(
    private readonly limits: Pick<NetLimits, "maxPendingHandshakes" | "maxPendingHandshakesPerHost" | "reservedHandshakesPerPeer">,
    private readonly hosts: PeerHosts,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  connections(): C[] {
    return [...this.pending.keys()];
  }

  /**
   * Decides on a new connection from `host`; unless refused, the caller then hold()s it. A reserved
   * admission may name an older connection the caller must close (it is already released here).
   */
  admit(host: string): Admission<C> {
    const dialers = this.hosts.dialersAt(host);
    if (dialers > 0) {
      let evict: C | null = null;
      if ((this.unclaimedByHost.get(host) ?? 0) >= dialers * this.limits.reservedHandshakesPerPeer) {
        evict = this.oldest((p) => p.reserved && p.claim < 0 && p.host === host);
        if (evict !== null) this.release(evict);
      }
      return { kind: "reserved", evict };
    }
    if (this.general >= this.limits.maxPendingHandshakes) return { kind: "refused", reason: "too_many_pending" };
    if ((this.generalByHost.get(host) ?? 0) >= this.limits.maxPendingHandshakesPerHost) {
      return { kind: "refused", reason: "too_many_pending_from_host" };
    }
    return { kind: "general" };
  }

  /** Holds a connection admit() let in, on the path it chose. */
  hold(conn: C, host: string, path: "general" | "reserved"): void {
    const reserved = path === "reserved";
    this.pending.set(conn, { host, reserved, claim: -1 });
    if (reserved) {
      bump(this.unclaimedByHost, host, 1);
    } else {
      this.general++;
      bump(this.generalByHost, host, 1);
    }
  }

  /**
   * The connection's hello claimed validator `index`. On the reserved path, a claim of a validator that may
   * dial from its address moves it to that validator's allowance; returns an older claimant to close.
   */
  claim(conn: C, index: number): C | null {
    const p = this.pending.get(conn);
    if (p === undefined || !p.reserved || p.claim >= 0 || !this.hosts.isDialerAt(index, p.host)) return null;
    bump(this.unclaimedByHost, p.host, -1);
    p.claim = index;
    const list = this.claims.get(index) ?? [];
    list.push(conn);
    this.claims.set(index, list);
    if (list.length <= this.limits.reservedHandshakesPerPeer) return null;
    const evict = list[0]!;
    this.release(evict);
    return evict;
  }

  /** The connection authenticated or closed. */
  release(conn: C): void {
    const p = this.pending.get(conn);
    if (p === undefined) return;
    this.pending.delete(conn);
    if (!p.reserved) {
      this.general--;
      bump(this.generalByHost, p.host, -1);
    } else if (p.claim < 0) {
      bump(this.unclaimedByHost, p.host, -1);
    } else {
      const list = this.claims.get(p.claim)!;
      list.splice(list.indexOf(conn), 1);
      if (list.length === 0) this.claims.delete(p.claim);
    }
  }

  private oldest(pred: (p: Pending) => boolean): C | null {
    for (const [c, p] of this.pending) if (pred(p)) return c;
    return null;
  }
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n <= 0) m.delete(key);
  else m.set(key, n);
}
