import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { agentView } from "../agent/model";
import { carryCounters, parseFaults } from "./faults";
import type { KubeObject } from "./kube";
import { Store } from "./store";

let rv = 100;
const meta = (name: string, namespace?: string, extra: Partial<KubeObject["metadata"]> = {}): KubeObject["metadata"] => ({
  name,
  ...(namespace ? { namespace } : {}),
  uid: `uid-${namespace}-${name}`,
  resourceVersion: String(rv++),
  ...extra,
});

const node = (name: string, ip: string): KubeObject => ({
  metadata: meta(name),
  status: {
    addresses: [
      { type: "InternalIP", address: ip },
      { type: "Hostname", address: name },
    ],
  },
});
const secret = (line: string): KubeObject => ({ metadata: meta("cilium-ipsec-keys", "kube-system"), data: { keys: Buffer.from(line).toString("base64") } });
const config = (data: Record<string, string>): KubeObject => ({ metadata: meta("cilium-config", "kube-system"), data });
const agentPod = (name: string, nodeName: string | undefined, image = "quay.io/cilium/cilium:v1.19.7@sha256:abc"): KubeObject => ({
  metadata: meta(name, "kube-system", { labels: { "k8s-app": "cilium" } }),
  spec: {
    ...(nodeName ? { nodeName } : {}),
    containers: [{ name: "cilium-agent", image, volumeMounts: [{ name: "cilium-ipsec-secrets", mountPath: "/etc/ipsec" }] }],
    volumes: [{ name: "cilium-ipsec-secrets", secret: { secretName: "cilium-ipsec-keys" } }],
  },
});

const ipsec = { "enable-ipsec": "true", "ipsec-key-file": "/etc/ipsec/keys", "routing-mode": "native", "enable-ipv6": "false" };

test("an agent pod binds to the config of its start and the key Secret it mounts", () => {
  let now = 1000;
  const s = new Store(() => now);
  const bound: string[] = [];
  s.onBound = (p) => bound.push(`${p.namespace}/${p.name}@${p.node}`);
  s.nodesListed([node("node-a", "10.0.0.1"), node("node-b", "10.0.0.2")]);
  s.configMapsListed([config(ipsec)]);
  const key = randomBytes(20).toString("hex");
  s.secretsListed([secret(`3+ rfc4106(gcm(aes)) ${key} 128`)]);
  s.podsListed([agentPod("cilium-a", undefined)]);
  assert.deepEqual(bound, [], "not bound yet: no Exec");
  s.podEvent({ type: "MODIFIED", object: agentPod("cilium-a", "node-a") });
  s.podEvent({ type: "ADDED", object: agentPod("cilium-b", "node-b") });
  assert.deepEqual(bound, ["kube-system/cilium-a@node-a", "kube-system/cilium-b@node-b"]);
  // The ConfigMap changes after the pods started: they keep the config they started with.
  s.configMapEvent({ type: "MODIFIED", object: config({ ...ipsec, "enable-ipsec": "false" }) });
  now = 5000;
  const v = agentView("node-a", s.world, now)!;
  assert.equal(v.minor, "1.19");
  assert.equal(v.mode, "IPsec");
  assert.equal(v.kernel.ipsec?.keys, 2);
  // Nothing the store keeps holds the key.
  const dump = JSON.stringify([...s.world.secrets.entries()].map(([k, h]) => [k, h.map((x) => [...(x.files ?? new Map()).entries()])]));
  assert.ok(!dump.includes(key) && !dump.includes(Buffer.from(key).toString("base64")));
});

test("a pod of an unknown Cilium version is recorded as such, not simulated", () => {
  const s = new Store(() => 0);
  s.podEvent({ type: "ADDED", object: agentPod("cilium-x", "node-a", "quay.io/cilium/cilium:v1.15.3") });
  assert.equal(s.podByName("kube-system", "cilium-x")?.unsupportedImage, "quay.io/cilium/cilium:v1.15.3");
  assert.equal(s.world.podsByNode.get("node-a"), undefined);
});

test("a deleted pod ends its agent; the node keeps its history", () => {
  let now = 0;
  const s = new Store(() => now);
  s.configMapsListed([config(ipsec)]);
  const p = agentPod("cilium-a", "node-a");
  s.podEvent({ type: "ADDED", object: p });
  now = 10;
  s.podEvent({ type: "DELETED", object: p });
  assert.equal(s.world.podsByNode.get("node-a")?.[0]?.endMs, 10);
  assert.equal(s.podByName("kube-system", "cilium-a"), undefined);
});

test("fault files are validated", () => {
  assert.deepEqual(parseFaults({ agentDown: true, missingPeers: ["node-b"], oseqOffset: "0x80000000" }, 5), {
    sinceMs: 5,
    agentDown: true,
    missingPeers: ["node-b"],
    oseqOffset: 0x80000000,
  });
  assert.deepEqual(parseFaults({ xfrmErrors: { XfrmInNoStates: { perSecond: 2 } } }, 0).xfrmErrors, { XfrmInNoStates: { initial: 0, perSecond: 2 } });
  assert.throws(() => parseFaults({ xfrmErrors: { XfrmNope: { perSecond: 1 } } }, 0), /not a \/proc\/net\/xfrm_stat counter/);
  assert.throws(() => parseFaults({ agentdown: true }, 0), /unknown fault "agentdown"/);
  assert.throws(() => parseFaults({ mode: "ipsec" }, 0), /mode must be/);
});

test("node encryption opt-out follows the node labels the agent started with", () => {
  const s = new Store(() => 0);
  s.nodesListed([node("node-a", "10.0.0.1")]);
  s.configMapsListed([config({ "enable-wireguard": "true", "encrypt-node": "true" })]);
  s.podEvent({ type: "ADDED", object: agentPod("cilium-a", "node-a") });
  const labelled = node("node-a", "10.0.0.1");
  labelled.metadata.labels = { "node-role.kubernetes.io/control-plane": "" };
  s.nodeEvent({ type: "MODIFIED", object: labelled });
  assert.equal(agentView("node-a", s.world, 1)?.wireguard?.nodeEncryption, "Enabled");
  s.podEvent({ type: "DELETED", object: agentPod("cilium-a", "node-a") });
  s.podEvent({ type: "ADDED", object: agentPod("cilium-a2", "node-a") });
  assert.equal(agentView("node-a", s.world, 1)?.wireguard?.nodeEncryption, "OptedOut");
});

test("XFRM counters stay where a fault left them: cumulative, never reset by clearing the fault", () => {
  const growing = new Map([["node-b", { sinceMs: 0, source: "v1", xfrmErrors: { XfrmInNoStates: { initial: 1, perSecond: 2 } } }]]);
  const first = carryCounters(new Map(), growing, 0);
  assert.deepEqual(first.get("node-b")?.xfrmErrors, { XfrmInNoStates: { initial: 1, perSecond: 2 } });
  // Unchanged file: the same fault object stays in force.
  assert.equal(carryCounters(first, growing, 5_000).get("node-b"), first.get("node-b"));
  // File removed after 10 s: 1 + 2*10 = 21, frozen.
  const cleared = carryCounters(first, new Map(), 10_000);
  assert.deepEqual(cleared.get("node-b")?.xfrmErrors, { XfrmInNoStates: { initial: 21, perSecond: 0 } });
  // A new fault on the same counter grows from there.
  const again = carryCounters(
    cleared,
    new Map([["node-b", { sinceMs: 20_000, source: "v2", xfrmErrors: { XfrmInNoStates: { initial: 0, perSecond: 1 } } }]]),
    20_000,
  );
  assert.deepEqual(again.get("node-b")?.xfrmErrors, { XfrmInNoStates: { initial: 21, perSecond: 1 } });
  // Nodes that never had counters stay fault-free.
  assert.equal(carryCounters(new Map(), new Map(), 0).size, 0);
});
