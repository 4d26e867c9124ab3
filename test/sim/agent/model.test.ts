import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { agentConfig } from "./config";
import { agentView, keysTowards, knownNodes, pathFacts, SEQ_PER_SECOND } from "./model";
import { ipsecConfig, restart, SECRET, wireguardConfig, world } from "./testWorld";
import { MINORS, type Minor } from "./versions";

const line = (id: number): string => `${id}+ rfc4106(gcm(aes)) ${randomBytes(20).toString("hex")} 128`;
const NODES = ["node-a", "node-b", "node-c"];
const at = (w: ReturnType<typeof world>, node: string, t: number) => agentView(node, w, t)!;

test("keys per remote node follow each minor's node handler", () => {
  const n = { name: "r", internalIPs: ["192.0.2.2", "2001:db8::2"], labels: {} };
  const local = { name: "l", internalIPs: ["192.0.2.1", "2001:db8::1"], labels: {} };
  const cfg = (m: Minor, extra: Record<string, string>) => agentConfig(m, ipsecConfig(extra));
  const cases: [Minor, Record<string, string>, number][] = [
    ["1.16", { "routing-mode": "native" }, 2],
    ["1.16", {}, 2],
    ["1.16", { "enable-ipsec-encrypted-overlay": "true" }, 4],
    ["1.17", {}, 4],
    ["1.17", { "enable-ipv6": "true" }, 6],
    ["1.18", { "enable-ipv6": "true" }, 8],
    ["1.20", { "enable-ipv6": "true", "routing-mode": "native" }, 4],
    ["1.20", { ipam: "eni", "routing-mode": "native" }, 3],
  ];
  for (const [m, extra, want] of cases) assert.equal(keysTowards(m, cfg(m, extra), local, n, cfg(m, extra)), want, `${m} ${JSON.stringify(extra)}`);
  // The overlay pair needs an InternalIP of the family on both ends.
  const v4only = { ...n, internalIPs: ["192.0.2.2"] };
  assert.equal(keysTowards("1.18", cfg("1.18", { "enable-ipv6": "true" }), local, v4only, cfg("1.18", { "enable-ipv6": "true" })), 6);
});

test("a healthy IPsec cluster: every agent in IPsec mode, keys for every other node, oseq growing", () => {
  const w = world({ nodes: NODES, minor: "1.18", config: ipsecConfig(), keys: [[0, line(3)]] });
  const v = at(w, "node-a", 10_000);
  assert.equal(v.reachable, true);
  assert.equal(v.mode, "IPsec");
  assert.equal(v.kernel.ipsec?.keys, 8);
  assert.equal(v.kernel.ipsec?.maxSeq, 10 * SEQ_PER_SECOND);
  assert.ok(at(w, "node-a", 20_000).kernel.ipsec!.maxSeq > v.kernel.ipsec!.maxSeq);
});

test("rotation: keys double when the Secret changes, settle at the first reclaimer tick after keyRotationDuration", () => {
  // 30s rotation; new key at 100s; reclaimer ticks at 60s, 120s, 180s: due 130s -> removed at 180s.
  const w = world({
    nodes: NODES,
    minor: "1.18",
    config: ipsecConfig(),
    keys: [
      [0, line(3)],
      [100_000, line(4)],
    ],
  });
  assert.equal(at(w, "node-a", 99_000).kernel.ipsec?.keys, 8);
  assert.deepEqual(at(w, "node-a", 101_000).kernel.ipsec?.spis, [3, 4]);
  assert.equal(at(w, "node-a", 179_000).kernel.ipsec?.keys, 16);
  assert.equal(at(w, "node-a", 181_000).kernel.ipsec?.keys, 8);
  assert.deepEqual(at(w, "node-a", 181_000).kernel.ipsec?.spis, [4]);
});

test("1.20 waits a jitter below keyRotationDuration/10 before loading a new key", () => {
  const w = world({
    nodes: NODES,
    minor: "1.20",
    config: ipsecConfig({ "ipsec-key-rotation-duration": "100s" }),
    keys: [
      [0, line(3)],
      [50_000, line(4)],
    ],
  });
  assert.equal(at(w, "node-a", 50_000).kernel.ipsec?.keys, 8);
  assert.equal(at(w, "node-a", 60_000).kernel.ipsec?.keys, 16);
});

test("without the key watcher a new key waits for the agent's restart", () => {
  const cfg = ipsecConfig({ "enable-ipsec-key-watcher": "false" });
  const w = world({
    nodes: NODES,
    minor: "1.19",
    config: cfg,
    keys: [
      [0, line(3)],
      [10_000, line(4)],
    ],
  });
  assert.deepEqual(at(w, "node-a", 20_000).kernel.ipsec?.spis, [3]);
  restart(w, "node-a", 30_000, cfg, "1.19");
  // The new agent loads key 4; key 3's states are unknown to it and reclaimed a rotation later.
  assert.deepEqual(at(w, "node-a", 31_000).kernel.ipsec?.spis, [3, 4]);
  assert.deepEqual(at(w, "node-a", 30_000 + 60_000 + 30_000 + 60_000).kernel.ipsec?.spis, [4]);
});

test("a key line the agent refuses at start: the agent is down; refused by the watcher: it keeps its key", () => {
  const bad = `3+ rfc4106(gcm(aes)) ${randomBytes(20).toString("hex")}`;
  const down = world({ nodes: NODES, minor: "1.20", config: ipsecConfig(), keys: [[0, bad]] });
  const v = at(down, "node-a", 5_000);
  assert.equal(v.reachable, false);
  assert.match(v.downReason!, /index out of range/);
  assert.equal(v.socketExists, false);
  assert.equal(v.kernel.ipsec, undefined, "no agent ever installed a state");

  const later = world({
    nodes: NODES,
    minor: "1.20",
    config: ipsecConfig(),
    keys: [
      [0, line(3)],
      [10_000, bad],
    ],
  });
  const kept = at(later, "node-a", 20_000);
  assert.equal(kept.reachable, true);
  assert.deepEqual(kept.kernel.ipsec?.spis, [3]);
  // ...until the agent restarts with the refused line: down, its predecessor's states still in the kernel.
  restart(later, "node-a", 30_000, ipsecConfig(), "1.20");
  const crashed = at(later, "node-a", 31_000);
  assert.equal(crashed.reachable, false);
  assert.equal(crashed.socketExists, true);
  assert.equal(crashed.kernel.ipsec?.keys, 8);
});

test("a fixed Secret brings a crash-looping agent up", () => {
  const bad = "3+ rfc4106(gcm(aes)) zz 128";
  const w = world({
    nodes: NODES,
    minor: "1.17",
    config: ipsecConfig(),
    keys: [
      [0, bad],
      [40_000, line(3)],
    ],
  });
  assert.equal(at(w, "node-a", 39_000).reachable, false);
  assert.equal(at(w, "node-a", 41_000).reachable, true);
});

test("encryption turned off in cilium-config and agents restarted: mode Disabled, XFRM states deleted", () => {
  const w = world({ nodes: NODES, minor: "1.19", config: ipsecConfig(), keys: [[0, line(3)]] });
  restart(w, "node-b", 60_000, { ...ipsecConfig(), "enable-ipsec": "false" }, "1.19");
  const b = at(w, "node-b", 61_000);
  assert.equal(b.mode, "Disabled");
  assert.equal(b.kernel.ipsec, undefined);
  // The others keep encrypting towards node-b.
  assert.equal(at(w, "node-a", 61_000).kernel.ipsec?.keys, 8);
  assert.equal(pathFacts("node-a", "node-b", w, 61_000).encryption, "ipsec");
  assert.equal(pathFacts("node-b", "node-a", w, 61_000).encryption, "none");
});

test("a node whose agent never came up is unknown to the others", () => {
  const w = world({ nodes: NODES, minor: "1.18", config: ipsecConfig(), keys: [[0, line(3)]] });
  w.podsByNode.delete("node-c");
  assert.deepEqual([...knownNodes(w, 1000).keys()].sort(), ["node-a", "node-b"]);
  assert.equal(at(w, "node-a", 1000).kernel.ipsec?.keys, 4);
});

test("WireGuard: a peer per other node, node encryption opt-out by label, missing peers by fault", () => {
  const w = world({
    nodes: NODES,
    minor: "1.20",
    config: wireguardConfig({ "encrypt-node": "true" }),
    labels: { "node-a": { "node-role.kubernetes.io/control-plane": "" } },
  });
  const a = at(w, "node-a", 1000);
  assert.equal(a.mode, "Wireguard");
  assert.equal(a.wireguard?.peers, 2);
  assert.equal(a.wireguard?.nodeEncryption, "OptedOut");
  assert.equal(at(w, "node-b", 1000).wireguard?.nodeEncryption, "Enabled");
  w.faults.set("node-b", { sinceMs: 0, missingPeers: ["node-c"] });
  assert.equal(at(w, "node-b", 1000).kernel.wireguard?.peers, 1);
  assert.equal(pathFacts("node-b", "node-c", w, 1000).encryption, "none");
  assert.deepEqual(pathFacts("node-c", "node-b", w, 1000).wireguard, { receiverHasPeer: false });
});

test("faults: agent down from the fault time, XFRM counters growing, wrong mode", () => {
  const w = world({ nodes: NODES, minor: "1.19", config: ipsecConfig(), keys: [[0, line(3)]] });
  w.faults.set("node-a", { sinceMs: 10_000, agentDown: true });
  w.faults.set("node-b", { sinceMs: 10_000, xfrmErrors: { XfrmInNoStates: { initial: 2, perSecond: 1 } } });
  w.faults.set("node-c", { sinceMs: 0, mode: "Disabled" });
  const a = at(w, "node-a", 20_000);
  assert.equal(a.reachable, false);
  assert.equal(a.kernel.ipsec?.maxSeq, 10 * SEQ_PER_SECOND, "the kernel stops where the agent stopped");
  assert.deepEqual(at(w, "node-b", 15_000).kernel.ipsec?.errors, { XfrmInNoStates: 7 });
  assert.deepEqual(at(w, "node-b", 25_000).kernel.ipsec?.errors, { XfrmInNoStates: 17 });
  assert.equal(at(w, "node-c", 20_000).mode, "Disabled");
});

test('1.16 without "+" in the key line: one key in use whatever the node count', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 8 }), (n) => {
      const nodes = Array.from({ length: n }, (_, i) => `n${i}`);
      const w = world({ nodes, minor: "1.16", config: ipsecConfig(), keys: [[0, `3 rfc4106(gcm(aes)) ${randomBytes(20).toString("hex")} 128`]] });
      assert.equal(at(w, "n0", 1000).kernel.ipsec?.keys, 1);
    }),
    { numRuns: 10 },
  );
});

test("keys in use = per-remote keys x (nodes - 1) on every minor", () => {
  fc.assert(
    fc.property(fc.constantFrom(...MINORS), fc.integer({ min: 1, max: 12 }), fc.constantFrom("tunnel", "native"), (m, n, routing) => {
      const nodes = Array.from({ length: n }, (_, i) => `n${i}`);
      const cfgData = ipsecConfig({ "routing-mode": routing });
      const w = world({ nodes, minor: m, config: cfgData, keys: [[0, line(5)]] });
      const cfg = agentConfig(m, cfgData);
      const per = keysTowards(m, cfg, w.nodes.get("n0"), w.nodes.get("n1") ?? w.nodes.get("n0")!, cfg);
      assert.equal(at(w, "n0", 1000).kernel.ipsec?.keys, per * (n - 1));
    }),
    { numRuns: 40 },
  );
});

test("the key Secret missing its data key keeps the agent down", () => {
  const w = world({ nodes: NODES, minor: "1.20", config: ipsecConfig({ "ipsec-key-file": "/etc/ipsec/other" }), keys: [[0, line(3)]] });
  const v = at(w, "node-a", 1000);
  assert.equal(v.reachable, false);
  assert.equal(v.downReason, `secret "${SECRET}" key "other" not found`);
});
