import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { requireCiliumVersion as parseCiliumVersion } from "../../../encryption/ciliumVersion";
import {
  ClusterDataError,
  daemonSetRollout,
  expectedIpsecKeys,
  expectedWireguardPeers,
  ipsecKeysPerRemoteNode,
  type KnownNode,
  knownFromAgents,
  parseAgentPods,
  parseCiliumConfig,
  parseCiliumNodes,
  parseNodes,
  parsePod,
  staleKeyIds,
  strictModeKeys,
} from "../../../verifier/cluster";

const v = (s: string) => parseCiliumVersion(s);
const cm = (data: Record<string, string>) => JSON.stringify({ data });
const ds = (status: Record<string, number>, generation = 2, strategy = "RollingUpdate") =>
  JSON.stringify({ metadata: { name: "cilium", generation }, spec: { updateStrategy: { type: strategy } }, status });

describe("DaemonSet rollout", () => {
  it("follows kubectl rollout status", () => {
    assert.match(
      daemonSetRollout(ds({ observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 })).message,
      /spec update to be observed/,
    );
    const updating = daemonSetRollout(ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 1, numberAvailable: 3 }));
    assert.deepEqual([updating.done, updating.message], [false, 'daemon set "cilium" rollout: 1 out of 3 new pods have been updated']);
    const avail = daemonSetRollout(ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 }));
    assert.deepEqual([avail.done, avail.message], [false, 'daemon set "cilium" rollout: 2 of 3 updated pods are available']);
    assert.equal(daemonSetRollout(ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 })).done, true);
    assert.equal(
      daemonSetRollout(ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 0, numberAvailable: 3 }, 2, "OnDelete")).done,
      true,
    );
  });

  it("rejects what is not a DaemonSet", () => {
    assert.throws(() => daemonSetRollout("nope"), ClusterDataError);
    assert.throws(() => daemonSetRollout('{"status": {}}'), /DaemonSet: metadata/);
  });
});

describe("nodes and pods", () => {
  it("reads node addresses, pod CIDRs and the control-plane label", () => {
    const nodes = parseNodes(
      JSON.stringify({
        items: [
          {
            metadata: { name: "w1", labels: {} },
            spec: { podCIDRs: ["10.0.1.0/24", "fd10::/64"] },
            status: {
              addresses: [
                { type: "InternalIP", address: "192.0.2.2" },
                { type: "Hostname", address: "w1" },
              ],
            },
          },
          { metadata: { name: "cp", labels: { "node-role.kubernetes.io/control-plane": "" } }, spec: { podCIDR: "10.0.0.0/24" }, status: {} },
        ],
      }),
    );
    assert.deepEqual(nodes, [
      { name: "cp", internalIPs: [], podCIDRs: ["10.0.0.0/24"], controlPlane: true },
      { name: "w1", internalIPs: ["192.0.2.2"], podCIDRs: ["10.0.1.0/24", "fd10::/64"], controlPlane: false },
    ]);
  });

  it("an agent is ready only when the cilium-agent container is", () => {
    const pods = parseAgentPods(
      JSON.stringify({
        items: [
          {
            metadata: { name: "cilium-b" },
            spec: { nodeName: "n2" },
            status: {
              phase: "Running",
              containerStatuses: [
                { name: "cilium-agent", ready: false },
                { name: "x", ready: true },
              ],
            },
          },
          {
            metadata: { name: "cilium-a", deletionTimestamp: "2026-01-01T00:00:00Z" },
            spec: { nodeName: "n1" },
            status: { phase: "Running", containerStatuses: [{ name: "cilium-agent", ready: true }] },
          },
          { metadata: { name: "cilium-c" }, spec: {}, status: { phase: "Pending" } },
        ],
      }),
    );
    assert.deepEqual(
      pods.map((p) => [p.name, p.node, p.agentReady, p.deleting]),
      [
        ["cilium-a", "n1", true, true],
        ["cilium-b", "n2", false, false],
        ["cilium-c", null, false, false],
      ],
    );
  });

  it("reads a test pod with its addresses of both families", () => {
    const p = parsePod(
      JSON.stringify({
        metadata: { name: "server" },
        spec: { nodeName: "w2" },
        status: { phase: "Running", podIPs: [{ ip: "10.0.2.7" }, { ip: "fd10::7" }], containerStatuses: [{ name: "server", ready: true }] },
      }),
    );
    assert.deepEqual(p, { name: "server", node: "w2", phase: "Running", ready: true, ips: ["10.0.2.7", "fd10::7"] });
  });
});

describe("cilium-config", () => {
  it("applies Cilium defaults for absent keys and records only the keys read", () => {
    const c = parseCiliumConfig(cm({ "enable-ipsec": "true", "cluster-name": "x", "kube-proxy-replacement": "true" }), v("1.18.0"));
    assert.equal(c.ipv4, true);
    assert.equal(c.ipv6, false);
    assert.equal(c.routingMode, "tunnel");
    assert.equal(c.tunnelProtocol, "vxlan");
    assert.equal(c.tunnelPort, 8472);
    assert.equal(c.ipam, "cluster-pool");
    assert.deepEqual(c.read, { "enable-ipsec": "true" });
    assert.deepEqual([c.ipv4PodSubnets, c.ipv6PodSubnets, c.encryptedOverlay, c.clusterId], [0, 0, false, 0]);
  });

  it("reads the pod subnets, the 1.16 encrypted-overlay option (only there) and the cluster ID", () => {
    const data = {
      "ipv4-pod-subnets": "10.0.0.0/16,10.1.0.0/16",
      "ipv6-pod-subnets": "fd00::/64",
      "enable-ipsec-encrypted-overlay": "true",
      "cluster-id": "5",
    };
    const c16 = parseCiliumConfig(cm(data), v("1.16.19"));
    assert.deepEqual([c16.ipv4PodSubnets, c16.ipv6PodSubnets, c16.encryptedOverlay, c16.clusterId], [2, 1, true, 5]);
    assert.equal(c16.read["enable-ipsec-encrypted-overlay"], "true");
    const c17 = parseCiliumConfig(cm(data), v("1.17.16"));
    assert.equal(c17.encryptedOverlay, false);
    assert.equal(c17.read["enable-ipsec-encrypted-overlay"], undefined);
  });

  it("Geneve defaults to 6081 and an explicit tunnel-port wins", () => {
    assert.equal(parseCiliumConfig(cm({ "tunnel-protocol": "geneve" }), v("1.17.0")).tunnelPort, 6081);
    assert.equal(parseCiliumConfig(cm({ "tunnel-protocol": "vxlan", "tunnel-port": "4789" }), v("1.17.0")).tunnelPort, 4789);
  });

  it("strict mode keys per version", () => {
    assert.deepEqual(strictModeKeys(v("1.18.2")), ["enable-encryption-strict-mode"]);
    assert.deepEqual(strictModeKeys(v("1.19.0")), ["enable-encryption-strict-mode-egress", "enable-encryption-strict-mode"]);
    assert.deepEqual(strictModeKeys(v("1.20.1")), ["enable-encryption-strict-mode-egress"]);
    assert.equal(parseCiliumConfig(cm({ "enable-encryption-strict-mode": "true" }), v("1.19.1")).strictMode, true);
    assert.equal(parseCiliumConfig(cm({ "enable-encryption-strict-mode": "true" }), v("1.20.1")).strictMode, false);
    assert.equal(parseCiliumConfig(cm({ "enable-encryption-strict-mode-egress": "true" }), v("1.20.1")).strictMode, true);
  });

  it('the IPsec key watcher is on unless cilium-config says "false" (default true in every supported version)', () => {
    for (const ver of ["1.16.19", "1.19.7", "1.20.2"]) {
      assert.equal(parseCiliumConfig(cm({}), v(ver)).ipsecKeyWatcher, true);
      const off = parseCiliumConfig(cm({ "enable-ipsec-key-watcher": "false" }), v(ver));
      assert.deepEqual([off.ipsecKeyWatcher, off.read["enable-ipsec-key-watcher"]], [false, "false"]);
    }
    assert.throws(() => parseCiliumConfig(cm({ "enable-ipsec-key-watcher": "no" }), v("1.20.2")), /enable-ipsec-key-watcher/);
  });

  it("refuses values it cannot interpret", () => {
    assert.throws(() => parseCiliumConfig(cm({ "routing-mode": "hybrid" }), v("1.18.0")), /routing-mode/);
    assert.throws(() => parseCiliumConfig(cm({ "enable-ipv6": "yes" }), v("1.18.0")), /enable-ipv6/);
    assert.throws(() => parseCiliumConfig(cm({ "tunnel-port": "70000" }), v("1.18.0")), /tunnel-port/);
  });
});

describe("the nodes Cilium knows", () => {
  const cn = (name: string, addresses: Array<[string, string]>, extra: { bootid?: string; annotations?: Record<string, string> } = {}) => ({
    metadata: { name, annotations: extra.annotations ?? {} },
    spec: { bootid: extra.bootid ?? "b1d5a7f0-0000-4000-8000-000000000001", addresses: addresses.map(([type, ip]) => ({ type, ip })) },
  });

  it("reads boot ID, CiliumInternalIP families and the WireGuard key annotation (or its alias) of each CiliumNode", () => {
    const { known, internalIps } = parseCiliumNodes(
      JSON.stringify({
        items: [
          cn(
            "b",
            [
              ["InternalIP", "192.0.2.2"],
              ["CiliumInternalIP", "10.0.1.1"],
              ["CiliumInternalIP", "fd00::1"],
            ],
            { annotations: { "io.cilium.network.wg-pub-key": "k" } },
          ),
          cn("a", [["InternalIP", "192.0.2.1"]], { bootid: "" }),
          cn("c", [["CiliumInternalIP", "10.0.3.1"]], { annotations: { "network.cilium.io/wg-pub-key": "k" } }),
        ],
      }),
    );
    assert.deepEqual(known, [
      { name: "a", bootId: false, ipv4: false, ipv6: false, wireguardKey: false },
      { name: "b", bootId: true, ipv4: true, ipv6: true, wireguardKey: true },
      { name: "c", bootId: true, ipv4: true, ipv6: false, wireguardKey: true },
    ]);
    assert.deepEqual(
      [...internalIps],
      [
        ["b", ["10.0.1.1", "fd00::1"]],
        ["c", ["10.0.3.1"]],
      ],
    );
  });

  it("reads the key id each agent announces (spec.encryption.key, omitempty: absent is 0)", () => {
    const { keyIds } = parseCiliumNodes(
      JSON.stringify({ items: [{ ...cn("a", []), spec: { encryption: { key: 3 } } }, { ...cn("b", []), spec: { encryption: {} } }, cn("c", [])] }),
    );
    assert.deepEqual(
      [...keyIds],
      [
        ["a", 3],
        ["b", 0],
        ["c", 0],
      ],
    );
    assert.throws(
      () => parseCiliumNodes(JSON.stringify({ items: [{ ...cn("a", []), spec: { encryption: { key: "3" } } }] })),
      /CiliumNode list: items\.0\.spec\.encryption\.key/,
    );
  });

  it("names the CiliumNodes without a Kubernetes Node that announce another key id", () => {
    const ids = new Map([
      ["a", 2],
      ["gone", 1],
      ["left", 0],
      ["kept", 2],
    ]);
    assert.deepEqual(staleKeyIds(ids, ["a", "b"], 2), ["gone (key id 1)", "left (no key id)"]);
    assert.deepEqual(staleKeyIds(ids, ["a", "gone", "left"], 2), []);
  });

  it("without the CiliumNode API, the nodes with an agent stand in with every enabled family", () => {
    const c = parseCiliumConfig(cm({ "enable-ipv6": "true", "enable-wireguard": "true" }), v("1.20.2"));
    assert.deepEqual(knownFromAgents(["n1"], c), [{ name: "n1", bootId: true, ipv4: true, ipv6: true, wireguardKey: true }]);
  });
});

describe("expected IPsec keys per remote node", () => {
  const cfg = (data: Record<string, string>, ver: string) => parseCiliumConfig(cm(data), v(ver));
  // Each row: cilium-config, version, keys per remote node for IPv4 and IPv6, and the file of that
  // version where the XFRM states are created.
  const table: Array<[Record<string, string>, string, number, number, string]> = [
    // cilium v1.16.19 pkg/datapath/linux/ipsec.go enableIPsecIPv4: out + in between CiliumInternalIPs.
    [{ "routing-mode": "native" }, "1.16.19", 2, 2, "v1.16.19 enableIPsecIPv4/IPv6"],
    [{ "routing-mode": "tunnel" }, "1.16.19", 2, 2, "v1.16.19: no overlay states without enable-ipsec-encrypted-overlay"],
    // v1.16.19 enableIPsecIPv4: EnableIPSecEncryptedOverlay adds overlay out/in (reqid 2), IPv4 only.
    [{ "routing-mode": "tunnel", "enable-ipsec-encrypted-overlay": "true" }, "1.16.19", 4, 2, "v1.16.19 encrypted overlay"],
    // v1.17.16 enableIPSecIPv4Do: EnableEncapsulation adds overlay out/in for IPv4; IPv6Do has none.
    [{ "routing-mode": "tunnel" }, "1.17.16", 4, 2, "v1.17.16 enableIPSecIPv4Do"],
    [{ "routing-mode": "native" }, "1.17.16", 2, 2, "v1.17.16 native"],
    // the 1.16-only option is ignored from 1.17 (pkg/option/config.go still reads it, ipsec.go no longer uses it)
    [{ "routing-mode": "native", "enable-ipsec-encrypted-overlay": "true" }, "1.17.16", 2, 2, "v1.17.16 ignores encrypted overlay"],
    // v1.18.11 enableIPSecIPv6Do gains the overlay states too.
    [{ "routing-mode": "tunnel" }, "1.18.11", 4, 4, "v1.18.11 enableIPSecIPv6Do"],
    [{ "routing-mode": "tunnel" }, "1.19.7", 4, 4, "v1.19.7"],
    [{ "routing-mode": "tunnel" }, "1.20.2", 4, 4, "v1.20.2"],
    [{ "routing-mode": "native" }, "1.20.2", 2, 2, "v1.20.2 native"],
    // Subnet encryption (enableIPsecIPv4 loop in v1.16.19, enableIPSecIPv4DoSubnetEncryption from
    // v1.17.16): out, in via CiliumInternalIPs, in via node IPs. ENI/Azure derive IPv4 subnets
    // (pkg/datapath/linux/node.go), IPv6 subnets only from v1.20.2.
    [{ "routing-mode": "native", ipam: "eni" }, "1.16.19", 3, 0, "v1.16.19 ENI: IPv6 states only inside the subnet loop"],
    [{ "routing-mode": "native", ipam: "azure" }, "1.17.16", 3, 2, "v1.17.16 Azure: IPv6 in-states without subnets"],
    [{ "routing-mode": "native", ipam: "eni" }, "1.19.7", 3, 2, "v1.19.7 ENI"],
    [{ "routing-mode": "native", ipam: "eni" }, "1.20.2", 3, 3, "v1.20.2 ENI derives IPv6 subnets"],
    [
      { "routing-mode": "tunnel", "ipv4-pod-subnets": "10.0.0.0/16 10.1.0.0/16" },
      "1.18.11",
      3,
      2,
      "v1.18.11 explicit ipv4-pod-subnets, no overlay in subnet mode",
    ],
    [{ "routing-mode": "native", "ipv4-pod-subnets": "not-a-cidr" }, "1.18.11", 2, 2, "invalid CIDRs are skipped by the agent"],
  ];
  for (const [data, ver, ipv4, ipv6, source] of table) {
    it(`${ver} ${JSON.stringify(data)}: IPv4 ${ipv4}, IPv6 ${ipv6} (${source})`, () => {
      const per = ipsecKeysPerRemoteNode(cfg(data, ver), v(ver));
      assert.deepEqual([per.ipv4, per.ipv6], [ipv4, ipv6]);
    });
  }

  const known = (n: number, extra: Partial<KnownNode> = {}): KnownNode[] =>
    Array.from({ length: n }, (_, i) => ({ name: `n${i}`, bootId: true, ipv4: true, ipv6: true, wireguardKey: true, ...extra }));

  it("sums over the other CiliumNodes and the enabled families: a 3-node dual-stack cluster has 8 keys per node (the docs example)", () => {
    const c = cfg({ "routing-mode": "native", "enable-ipv6": "true" }, "1.20.2");
    const e = expectedIpsecKeys(c, v("1.20.2"), known(3));
    assert.deepEqual([e("n0").steady, e("n0").atLeast], [8, false]);
    assert.match(e("n0").formula, /native routing: 2 per family, IPv4\+IPv6, 2 remote node\(s\)/);
  });

  it("property: with every node complete, steady = (known nodes - 1) x (keys for IPv4 + keys for IPv6)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.constantFrom("1.16.19", "1.17.16", "1.18.11", "1.19.7", "1.20.2"),
        fc.constantFrom("native", "tunnel"),
        fc.boolean(),
        (n, ver, routing, dual) => {
          const c = cfg({ "routing-mode": routing, "enable-ipv6": String(dual) }, ver);
          const per = ipsecKeysPerRemoteNode(c, v(ver));
          assert.equal(expectedIpsecKeys(c, v(ver), known(n))("n0").steady, (n - 1) * (per.ipv4 + (dual ? per.ipv6 : 0)));
        },
      ),
    );
  });

  it("a remote node without a boot ID or without a CiliumInternalIP of a family holds no state for it (enableIPsecIPv4/IPv6 return early)", () => {
    const c = cfg({ "routing-mode": "native", "enable-ipv6": "true" }, "1.19.7");
    const nodes = [
      ...known(2),
      { name: "nb", bootId: false, ipv4: true, ipv6: true, wireguardKey: true },
      { name: "n6", bootId: true, ipv4: false, ipv6: true, wireguardKey: true },
    ];
    const e = expectedIpsecKeys(c, v("1.19.7"), nodes);
    assert.equal(e("n0").steady, 4 + 0 + 2);
    assert.equal(e("n6").steady, 8);
    assert.match(e("n0").formula, /1 node\(s\) without a boot ID or CiliumInternalIP hold no state/);
    // A node Cilium does not know (its agent never ran) is not subtracted from anything.
    assert.equal(e("not-known").steady, 4 + 4 + 2);
  });

  it("with a cluster-id, Cluster Mesh peers hold keys too: the count is a lower bound", () => {
    const c = cfg({ "routing-mode": "native", "cluster-id": "3" }, "1.20.2");
    assert.equal(c.clusterId, 3);
    assert.deepEqual(expectedIpsecKeys(c, v("1.20.2"), known(2))("n0"), {
      steady: 2,
      atLeast: true,
      formula: "native routing: 2 per family, IPv4, 1 remote node(s)",
    });
    assert.throws(() => cfg({ "cluster-id": "one" }, "1.20.2"), /cluster-id is not a cluster ID/);
  });
});

describe("expected WireGuard peers", () => {
  it("the other CiliumNodes with a WireGuard key (pkg/wireguard/agent/node_handler.go skips the local node and nodes without a key)", () => {
    const c = parseCiliumConfig(cm({ "enable-wireguard": "true" }), v("1.19.7"));
    const nodes: KnownNode[] = ["a", "b", "c", "d"].map((name) => ({ name, bootId: true, ipv4: true, ipv6: false, wireguardKey: name !== "d" }));
    const p = expectedWireguardPeers(c, nodes);
    assert.deepEqual(
      [p("a"), p("d"), p("gone")],
      [
        { steady: 2, atLeast: false },
        { steady: 3, atLeast: false },
        { steady: 3, atLeast: false },
      ],
    );
    const mesh = parseCiliumConfig(cm({ "enable-wireguard": "true", "cluster-id": "7" }), v("1.19.7"));
    assert.equal(expectedWireguardPeers(mesh, nodes)("a").atLeast, true);
  });
});
