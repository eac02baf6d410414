// An idle chain writes no blocks, so a test that wants to see it move gives it work: one transfer of 1 from a
// funded key to itself (balances other than the fee's stay as they were), committed. Returns the height of the
// block that carried it.
import { Client, Keypair } from "../../node/client/index.ts";

export async function commitProbe(url: string, fundedSecretHex: string, timeoutMs = 30_000): Promise<bigint> {
  const client = new Client(url);
  const key = Keypair.fromSecretHex(fundedSecretHex);
  const id = (await client.transfer({ key, to: key.publicKey, amount: 1n })) as string;
  const receipt = await client.waitForReceipt(id, timeoutMs);
  if (receipt.status !== "ok") throw new Error(`probe transfer ended ${receipt.status}: ${receipt.error ?? ""}`);
  return receipt.height;
}
