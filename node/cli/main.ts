// The `cairn` command: a small dispatcher. Each command module parses its own arguments; modules load lazily
// so `cairn keygen` does not pay for RocksDB or the compiler.

import { argv, exit, stderr, stdout } from "node:process";

type Run = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Run>> = {
  contract: async () => (await import("./contract.ts")).runContract,
  start: async () => (await import("./commands/node.ts")).NODE_COMMANDS.start!,
  devnet: async () => (await import("./commands/node.ts")).NODE_COMMANDS.devnet!,
  "verify-chain": async () => (await import("./commands/node.ts")).NODE_COMMANDS["verify-chain"]!,
  replay: async () => (await import("./commands/node.ts")).NODE_COMMANDS.replay!,
  keygen: async () => (await import("./commands/client.ts")).CLIENT_COMMANDS.keygen!,
  deploy: async () => (await import("./commands/client.ts")).CLIENT_COMMANDS.deploy!,
  invoke: async () => (await import("./commands/client.ts")).CLIENT_COMMANDS.invoke!,
  query: async () => (await import("./commands/client.ts")).CLIENT_COMMANDS.query!,
  account: async () => (await import("./commands/client.ts")).CLIENT_COMMANDS.account!,
  block: async () => (await import("./commands/client.ts")).CLIENT_COMMANDS.block!,
  transfer: async () => (await import("./commands/client.ts")).CLIENT_COMMANDS.transfer!,
};

const HELP = `usage: cairn <command> [options]

contract authors:
  cairn contract build FILE.ts [--out FILE.wasm] [--json]
  cairn contract run FILE.ts --method NAME [--input HEX | --input-string TEXT] [--gas N] [--state FILE.json]
                             [--invoker HEX] [--proposer HEX]
clients:
  cairn keygen [--json]
  cairn deploy FILE.ts --name NAME [--version V] --url URL --key K [--wait]
  cairn invoke NAME VERSION METHOD [--input HEX | --input-string S] --url URL --key K [--gas N] [--gas-price P] [--wait]
  cairn query NAME VERSION METHOD [--input HEX | --input-string S] --url URL
  cairn transfer TO AMOUNT --url URL --key K [--wait]
  cairn account PUBKEY --url URL
  cairn block [HEIGHT|latest] --url URL
operators:
  cairn devnet --dir DIR [--validators N] [--base-port P] [--init-only]
  cairn start --config FILE
  cairn verify-chain --config FILE
  cairn replay --config FILE

--url may be repeated or comma-separated (validators of one chain): nonces are read only from one that is not
syncing, and a submission moves to the next while one is syncing or unreachable.
Every command takes --json for one JSON object on stdout; --help for its own usage.

exit codes: 0 ok; 1 failed (refused, reverted, node unreachable or every node syncing); 2 usage;
  3 not applied: the invocation is already committed (already_committed), another used its nonce (displaced), or the
    node dropped it (expired: its nonce gap outlived gapExpiryMs, or it was evicted or replaced by a better-paying one)
`;

async function main(): Promise<number> {
  const [name, ...rest] = argv.slice(2);
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    stderr.write(`cairn: unknown command ${JSON.stringify(name)}\n\n${HELP}`);
    return 2;
  }
  return (await load())(rest);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    stderr.write(`cairn: ${e instanceof Error ? e.message : String(e)}\n`);
    exit(1);
  },
);
