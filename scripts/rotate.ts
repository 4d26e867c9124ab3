/**
 * `npm run rotate -- --stack <name>`: bumps the stack's IPsec key id (15 wraps to 1) in
 * Pulumi.<stack>.yaml, keeping the file's comments and layout, and says what the next `pulumi up` does.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { IPSEC_SECRET_NAME, parseSettings, PROJECT } from "../config/settings";
import { readStackConfig, stackFilePath } from "../config/stackFile";
import { nextKeyId, pskBytes } from "../encryption/keyLine";

export function rotate(projectDir: string, stack: string): string {
  const settings = parseSettings(readStackConfig(projectDir, stack));
  const enc = settings.encryption;
  if (enc.type !== "ipsec") {
    throw new Error(`stack ${stack} uses ${enc.type}; only IPsec has a shared key to rotate (WireGuard nodes rotate their own keys)`);
  }
  const next = nextKeyId(enc.keyId);
  const path = stackFilePath(projectDir, stack);
  const doc = parseDocument(readFileSync(path, "utf8"));
  doc.setIn(["config", `${PROJECT}:encryption`, "ipsec", "keyId"], next);
  writeFileSync(path, doc.toString());
  const target = `${settings.cilium.namespace}/${IPSEC_SECRET_NAME}`;
  return [
    `${stack}: encryption.ipsec.keyId ${enc.keyId} → ${next} in ${path}`,
    `The next \`pulumi up --stack ${stack}\` will generate a new ${pskBytes(enc.algorithm)}-byte PSK (${enc.algorithm}),`,
    `update ${target} in place with key id ${next}, and re-run the verification, which waits until the`,
    `agents have settled on the new key (they keep the old one for ${enc.keyRotationDuration}).`,
  ].join("\n");
}

function main(argv: string[]): number {
  const i = argv.indexOf("--stack");
  const stack = i >= 0 ? argv[i + 1] : undefined;
  if (stack === undefined || argv.length !== 2) {
    console.error("usage: npm run rotate -- --stack <name>");
    return 2;
  }
  try {
    console.log(rotate(process.cwd(), stack));
    return 0;
  } catch (e) {
    console.error(`rotate: ${(e as Error).message}`);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
