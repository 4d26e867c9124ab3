/**
 * The debug-log redaction against the SDK's own messages: the program runs on the real
 * @pulumi/pulumi runtime (its resource registration code, under its mock monitor), and what reaches
 * the SDK's debug log is what the engine's event stream would carry. Its own file, so that the
 * capture is in place before the program installs the redaction around it.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parseKeyLine } from "../../encryption/keyLine";
import { asPulumiConfig, runProgram } from "./mockProgram";

const logged: string[] = [];
(pulumi.log as { debug: (msg: string) => Promise<void> }).debug = async (msg) => void logged.push(msg);

it("the SDK's RegisterResource debug messages reach the log with their payload cut, and the PSK nowhere", async () => {
  const run = await runProgram(asPulumiConfig({ encryption: { type: "ipsec", ipsec: { keyId: 1 } } }));
  const hex = parseKeyLine(run.one("kubernetes:core/v1:Secret").inputs.stringData.keys).hex;
  const finished = logged.filter((m) => m.startsWith("RegisterResource RPC finished: "));
  assert.ok(
    finished.some((m) => m.includes("random:index/randomBytes:RandomBytes")),
    'the SDK no longer logs "RegisterResource RPC finished: ..." for the random bytes: its debug messages changed, so review runtime/logRedaction.ts',
  );
  for (const m of finished) assert.match(m, /resp: \[redacted: may hold secret outputs\]$/);
  assert.ok(!logged.some((m) => m.includes(hex)), "the PSK reached the SDK's debug log");
});
