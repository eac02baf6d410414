// HTTP request counters and latency histograms in Prometheus text format. Routes are labelled by their
// pattern ("/v1/blocks/:height"), never the raw URL, so hostile paths cannot blow up the label space.

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

function label(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export class HttpMetrics {
  private readonly requests = new Map<string, number>();
  private readonly durations = new Map<string, Histogram>();

  observe(method: string, route: string, status: number, seconds: number): void {
    const base = `method="${label(method)}",route="${label(route)}"`;
    const key = `${base},status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let h = this.durations.get(base);
    if (h === undefined) {
      h = { counts: new Array<number>(BUCKETS.length).fill(0), sum: 0, count: 0 };
      this.durations.set(base, h);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  render(): string {
    const lines: string[] = [
      "# HELP cairn_http_requests_total HTTP requests answered by the REST API.",
      "# TYPE cairn_http_requests_total counter",
    ];
    for (const [labels, n] of this.requests) lines.push(`cairn_http_requests_total{${labels}} ${n}`);
    lines.push(
      "# HELP cairn_http_request_duration_seconds Time from request start to response end.",
      "# TYPE cairn_http_request_duration_seconds histogram",
    );
    for (const [labels, h] of this.durations) {
      BUCKETS.forEach((b, i) => lines.push(`cairn_http_request_duration_seconds_bucket{${labels},le="${b}"} ${h.counts[i]}`));
      lines.push(`cairn_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      lines.push(`cairn_http_request_duration_seconds_sum{${labels}} ${h.sum}`);
      lines.push(`cairn_http_request_duration_seconds_count{${labels}} ${h.count}`);
    }
    return lines.join("\n") + "\n";
  }
}
