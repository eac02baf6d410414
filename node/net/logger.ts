// The transport logs through whatever the node passes in; by default one JSON line per event on stderr.

export type LogFields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

function jsonSafe(_key: string, v: unknown): unknown {
  if (typeof v === "bigint") return v.toString(10);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex");
  if (v instanceof Error) return { name: v.name, message: v.message, ...("code" in v ? { code: (v as { code: unknown }).code } : {}) };
  return v;
}

export function stderrLogger(component = "net"): Logger {
  const line = (level: string, msg: string, fields?: LogFields): void => {
    try {
      process.stderr.write(JSON.stringify({ t: new Date().toISOString(), level, component, msg, ...fields }, jsonSafe) + "\n");
    } catch {
      // A logger must never be the reason an event handler throws.
    }
  };
  return {
    info: (m, f) => line("info", m, f),
    warn: (m, f) => line("warn", m, f),
    error: (m, f) => line("error", m, f),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
