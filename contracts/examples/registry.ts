// Name registry: first come, first served names with an owner and a text value.
//
// Input format: UTF-8 text; a name is 1-64 characters of [a-z0-9-].
//   register("<name>")                 the invoker owns <name>; reverts "name taken"
//   lookup("<name>")                   outputs the owner's public key (hex); reverts "name not registered"
//   setValue("<name> <value...>")      owner only: sets the value (everything after the first space)
//   resolve("<name>")                  outputs the value (empty when none)
//   transfer("<name> <new owner hex>") owner only: hands the name over
//   release("<name>")                  owner only: deletes the name and its value
// Storage: "owner:" ++ name -> 32 bytes, "value:" ++ name -> UTF-8 text.
import { context, storage, util } from "cairn";

function checkName(name: string): string {
  if (name.length == 0 || name.length > 64) context.revert("name must be 1-64 characters");
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 45;
    if (!ok) context.revert("name may only contain a-z, 0-9 and '-'");
  }
  return name;
}

function ownerKey(name: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode("owner:" + name));
}

function requireOwner(name: string): void {
  const owner = storage.get(ownerKey(name));
  if (owner === null) context.revert("name not registered");
  else if (!util.bytesEqual(owner, context.invoker())) context.revert("only the owner of '" + name + "' can do this");
}

/** Splits at the first space: [head, rest]. */
function splitFirst(text: string): string[] {
  const at = text.indexOf(" ");
  if (at < 0) return [text, ""];
  return [text.substring(0, at), text.substring(at + 1)];
}

export function register(): void {
  const name = checkName(context.inputString());
  if (storage.has(ownerKey(name))) context.revert("name taken");
  storage.set(ownerKey(name), context.invoker());
}

export function lookup(): void {
  const name = checkName(context.inputString());
  const owner = storage.get(ownerKey(name));
  if (owner === null) context.revert("name not registered");
  else context.outputString(util.toHex(owner));
}

export function setValue(): void {
  const parts = splitFirst(context.inputString());
  const name = checkName(parts[0]);
  requireOwner(name);
  storage.setString("value:" + name, parts[1]);
}

export function resolve(): void {
  const name = checkName(context.inputString());
  const value = storage.getString("value:" + name);
  context.outputString(value === null ? "" : value);
}

export function transfer(): void {
  const parts = splitFirst(context.inputString());
  const name = checkName(parts[0]);
  requireOwner(name);
  const next = util.fromHex(parts[1]);
  if (next === null || next.length != 32) context.revert("new owner must be 64 hex digits");
  else storage.set(ownerKey(name), next);
}

export function release(): void {
  const name = checkName(context.inputString());
  requireOwner(name);
  storage.remove(ownerKey(name));
  storage.removeString("value:" + name);
}
