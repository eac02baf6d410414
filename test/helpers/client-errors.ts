// The ClientError a client call ends with (anything else it throws is rethrown; success fails the test).

import { ClientError } from "../../node/client/index.ts";

export async function caught(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ClientError) return e;
    throw e;
  }
  throw new Error("expected a ClientError");
}
