// When a validator says it is syncing. A just-started one is "starting" until it has heard from enough peers
// and then reached the height they reported; only after that does the running slack of 2 blocks apply. Before,
// a validator restarted 2 blocks behind its peers' reports counted as level at once and served stale reads
// while the chain moved on (found by the whole-validator simulation, seed 104659).

import { describe, expect, it } from "vitest";
import type { ConsensusCore } from "../node/consensus/index.ts";
import type { Executor } from "../node/exec/index.ts";
import { NodeMetrics } from "../node/metrics.ts";
import type { CatchUp } from "../node/validator/catch-up.ts";
import { PeerStatus } from "../node/validator/peer-status.ts";
import type { Clock, ValidatorLinks } from "../node/validator/ports.ts";

function setup(n: number, start: bigint) {
  let height = start;
  const executor = { head: () => ({ height }) } as unknown as Executor;
  const core = { certifiedHeight: 0n, highestQc: { view: 0n }, holdsCertifiedBlock: true } as { certifiedHeight: bigint; highestQc: { view: bigint }; holdsCertifiedBlock: boolean };
  const catchUp = { active: null, run: async () => undefined } as unknown as CatchUp;
  const links = { onPeerConnected: () => () => undefined, broadcast: () => 0, send: () => true } as unknown as ValidatorLinks;
  const clock = { now: () => 0, after: () => ({ cancel() {} }), every: () => ({ cancel() {} }), defer: () => undefined } as Clock;
  const peers = new PeerStatus({ links, clock, executor, core: core as unknown as ConsensusCore, catchUp, metrics: new NodeMetrics(), self: 0, validators: n });
  return { peers, core, setHeight: (h: bigint) => void (height = h) };
}

describe("syncing after a start", () => {
  it("starting until it hears n - f - 1 peers, then until it reaches their height, then level within the slack", () => {
    const t = setup(4, 34n);
    expect(t.peers.syncState().reason).toMatch(/heard from 0 of the 2 peers/);
    t.peers.onStatus(1, 36n);
    expect(t.peers.syncState().syncing).toBe(true);
    t.peers.onStatus(2, 36n);
    const s = t.peers.syncState();
    expect(s.syncing).toBe(true);
    expect(s.reason).toMatch(/starting: at height 34, level with peers at 36/);
    t.setHeight(35n);
    expect(t.peers.syncState().syncing).toBe(true);
    t.setHeight(36n);
    expect(t.peers.syncState()).toEqual({ syncing: false, reason: null, height: 36n, knownHeight: 36n });
    // Running now: peers a block or two ahead is the commit pipeline's own lag, not being behind.
    t.peers.onStatus(1, 38n);
    t.peers.onStatus(2, 38n);
    expect(t.peers.syncState().syncing).toBe(false);
    t.peers.onStatus(1, 39n);
    t.peers.onStatus(2, 39n);
    expect(t.peers.syncState().reason).toMatch(/behind: at height 36, peers have committed 39/);
  });

  it("one lying peer (f = 1) cannot hold a validator in syncing", () => {
    const t = setup(4, 10n);
    t.peers.onStatus(1, 1_000_000n);
    t.peers.onStatus(2, 10n);
    t.peers.onStatus(3, 10n);
    expect(t.peers.syncState()).toMatchObject({ syncing: false, knownHeight: 10n });
  });

  it("behind as soon as it holds a certificate for a block it lacks, before any peer's status says so", () => {
    // Found by the whole-validator simulation (seed 252405): a validator that missed a few proposals on a fast
    // chain was 7 blocks behind while its peers' last status reports, a round old, still matched its height.
    const t = setup(4, 17n);
    for (const peer of [1, 2, 3]) t.peers.onStatus(peer, 17n);
    expect(t.peers.syncState().syncing).toBe(false);
    t.core.highestQc = { view: 29n };
    t.core.holdsCertifiedBlock = false;
    expect(t.peers.syncState()).toMatchObject({ syncing: true, reason: expect.stringMatching(/certificate for view 29 whose block has not arrived/) });
    t.core.holdsCertifiedBlock = true;
    expect(t.peers.syncState().syncing).toBe(false);
  });

  it("a single validator has no peers to wait for", () => {
    expect(setup(1, 0n).peers.syncState().syncing).toBe(false);
  });
});
