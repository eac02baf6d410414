// The node's own Prometheus metrics: counters and gauges by name, rendered in the text exposition format.
// (The REST layer adds its HTTP request metrics beside these.)

const HELP: Record<string, string> = {
  cairn_height: "Last committed and applied block height.",
  cairn_view: "Current consensus view.",
  cairn_mempool_size: "Invocations waiting in the mempool.",
  cairn_pending_blocks: "Uncommitted blocks held by consensus.",
  cairn_stored_uncommitted_blocks: "Blocks stored before commit and not yet committed or dropped.",
  cairn_peers_connected: "Authenticated validator links.",
  cairn_blocks_committed_total: "Blocks committed since start.",
  cairn_invocations_committed_total: "Invocations committed since start.",
  cairn_peer_misbehaviour_total: "Messages from peers rejected as invalid.",
  cairn_net_frames_in_total: "Frames received from peers.",
  cairn_net_frames_out_total: "Frames sent to peers.",
  cairn_net_bytes_in_total: "Bytes received from peers.",
  cairn_net_bytes_out_total: "Bytes sent to peers.",
  cairn_state_retries_total: "Invocation re-runs after loading missing state from RocksDB.",
  cairn_sync_range_blocks_total: "Committed blocks received from peers in certified ranges (catching up).",
  cairn_sync_hash_blocks_total: "Blocks received from peers when asked for by hash (missing ancestors).",
  cairn_syncing: "1 while this validator knows it is behind (just started, catching up, or peers committed above it); it then refuses writes.",
  cairn_known_height: "Committed height at least one honest peer has reported (the (f+1)-th highest report).",
  cairn_behind_blocks: "Blocks between the known height and this validator's committed height.",
  cairn_seconds_since_commit: "Seconds since this validator last committed a block.",
};

export class NodeMetrics {
  private readonly values = new Map<string, number>();

  inc(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  set(name: string, value: number): void {
    this.values.set(name, value);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    for (const name of [...this.values.keys()].sort()) {
      const type = name.endsWith("_total") ? "counter" : "gauge";
      if (HELP[name]) lines.push(`# HELP ${name} ${HELP[name]}`);
      lines.push(`# TYPE ${name} ${type}`, `${name} ${this.values.get(name)}`);
    }
    return lines.join("\n") + "\n";
  }
}
