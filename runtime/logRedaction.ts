/**
 * The Node.js SDK logs every resource RPC's full response at debug severity ("RegisterResource RPC
 * finished: …; resp: …"), secret outputs included, in plain text. Those debug diagnostics travel in
 * the engine's event stream (Automation API, `--event-log`, `--debug`, services that store events),
 * so the IPsec PSK of RandomBytes and of the Secret would land there. Until the SDK masks them, the
 * program cuts the payload out of those messages before they leave the process.
 */
import * as pulumi from "@pulumi/pulumi";

const PAYLOAD = /\b(resp: |obj=|props=)[\s\S]*$/;

/** The message with any RPC payload replaced; other messages unchanged. */
export function redactRpcDebug(message: string): string {
  return message.replace(PAYLOAD, "$1[redacted: may hold secret outputs]");
}

let installed = false;

/** Wraps the SDK's debug logger (the module object the runtime calls through). Idempotent. */
export function redactSdkDebugLog(): void {
  if (installed) return;
  installed = true;
  const log = pulumi.log as { debug: typeof pulumi.log.debug };
  const debug = log.debug;
  log.debug = (msg, ...rest) => debug(redactRpcDebug(msg), ...rest);
}
