import assert from "node:assert/strict";
import { it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { redactRpcDebug, redactSdkDebugLog } from "../../runtime/logRedaction";

const psk = "e7f11e0978ed8c27e695b1b81413089bf8527899";
const rpc = `RegisterResource RPC finished: resource:ipsec-key-psk[random:index/randomBytes:RandomBytes]; err: null, resp: urn:x,obj,,hex,,,1b47061264138c4ac30d75fd1eb44270,value,,,${psk},keepers`;

it("cuts RPC payloads out of SDK debug messages and leaves others alone", () => {
  assert.equal(
    redactRpcDebug(rpc),
    "RegisterResource RPC finished: resource:ipsec-key-psk[random:index/randomBytes:RandomBytes]; err: null, resp: [redacted: may hold secret outputs]",
  );
  assert.match(redactRpcDebug(`Invoke RPC prepared: tok=x, obj={"a":"${psk}"}`), /obj=\[redacted/);
  assert.equal(redactRpcDebug("Registering resource: t=random:index/randomBytes:RandomBytes"), "Registering resource: t=random:index/randomBytes:RandomBytes");
});

it("the SDK's debug logger, as the runtime calls it, no longer carries the PSK", () => {
  const seen: string[] = [];
  const log = pulumi.log as { debug: (msg: string) => Promise<void> };
  log.debug = async (msg) => void seen.push(msg);
  redactSdkDebugLog();
  redactSdkDebugLog();
  void (require("@pulumi/pulumi/log") as typeof log).debug(rpc);
  assert.equal(seen.length, 1);
  assert.ok(!seen[0]!.includes(psk));
});
