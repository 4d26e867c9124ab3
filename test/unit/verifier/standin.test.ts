import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { judgeCapture, summarizeCapture } from "../../../verifier/classify";
import { CONTROL_MARKER } from "../../../verifier/wire";
import { STANDIN } from "./scenarios";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stateDir(scenario: string, files: Record<string, string> = {}): string {
  const d = mkdtempSync(join(tmpdir(), "standin-"));
  dirs.push(d);
  writeFileSync(join(d, "scenario"), `${scenario}\n`);
  for (const [k, v] of Object.entries(files)) writeFileSync(join(d, k), v);
  return d;
}

function standin(cmd: string, args: string[], state: string) {
  const r = spawnSync(join(STANDIN, cmd), args, { env: { ...process.env, CILIUM_STANDIN_DIR: state } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString("utf8") };
}

describe("tcpdump stand-in", () => {
  const filter = "(host 192.0.2.11 and host 192.0.2.12) or (host 10.0.1.15 and host 10.0.2.27)";
  const opts = (mode: "ipsec" | "wireguard", hostEnc = false) => ({
    mode,
    tunnelPorts: new Map<number, "vxlan" | "geneve">([[8472, "vxlan"]]),
    overlayMustBeEncrypted: true,
    hostTrafficMustBeEncrypted: hostEnc,
    podAddresses: ["10.0.1.15", "10.0.2.27"],
    podCidrs: [],
    nodeAddresses: ["192.0.2.11", "192.0.2.12"],
    controlMarker: hostEnc ? null : CONTROL_MARKER,
  });
  const capture = (state: string) => standin("tcpdump", ["-i", "eth0", "-Q", "out", "-U", "-n", "-s", "512", "-w", "-", filter], state);

  it("writes a pcap the classifier judges encrypted, for IPsec and WireGuard", () => {
    for (const [scenario, mode] of [
      ["ipsec-1.18-healthy", "ipsec"],
      ["wireguard-1.20-healthy", "wireguard"],
    ] as const) {
      const r = capture(stateDir(scenario));
      assert.equal(r.code, 0);
      assert.match(r.stderr, /^tcpdump: listening on eth0/);
      const s = summarizeCapture(new Uint8Array(r.stdout), opts(mode));
      assert.deepEqual(judgeCapture(s, mode, true), { verdict: "encrypted", reasons: [] });
      assert.equal(s.control, 1);
    }
    const ne = summarizeCapture(new Uint8Array(capture(stateDir("wireguard-1.19-node-encryption")).stdout), opts("wireguard", true));
    assert.equal(judgeCapture(ne, "wireguard", false).verdict, "encrypted");
  });

  it("with wire-leak adds a plaintext pod-to-pod packet, inside VXLAN in tunnel mode, directly in native mode", () => {
    const tunnel = summarizeCapture(new Uint8Array(capture(stateDir("ipsec-1.18-healthy", { "wire-leak": "" })).stdout), opts("ipsec"));
    assert.match(tunnel.samples.leaks[0]!, /inside the overlay/);
    const native = summarizeCapture(new Uint8Array(capture(stateDir("ipsec-1.20-healthy", { "wire-leak": "" })).stdout), opts("ipsec"));
    assert.match(native.samples.leaks[0]!, /plaintext pod-to-pod TCP 10\.0\.1\.15 > 10\.0\.2\.27 ports 40000 > 8080$/);
  });
});
