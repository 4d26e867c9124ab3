import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { ciliumNodeFor, routerIP } from "./ciliumNode";
import { agentView } from "./model";
import { ipsecConfig, wireguardConfig, world } from "./testWorld";

test("the router address is the last usable one of the pod CIDR", () => {
  assert.equal(routerIP("198.19.0.0/26"), "198.19.0.62");
  assert.equal(routerIP("198.19.3.192/26"), "198.19.3.254");
  assert.equal(routerIP("2001:db8:1::/64"), "2001:db8:1:0:ffff:ffff:ffff:fffe");
  assert.equal(routerIP("2001:db8:1:a::/64"), "2001:db8:1:a:ffff:ffff:ffff:fffe");
  assert.equal(routerIP("nonsense"), undefined);
});

test("an IPsec agent advertises its SPI, addresses of its families and its boot ID", () => {
  const w = world({
    nodes: ["node-a", "node-b"],
    minor: "1.20",
    config: ipsecConfig({ "enable-ipv6": "true" }),
    keys: [[0, `7+ rfc4106(gcm(aes)) ${randomBytes(20).toString("hex")} 128`]],
    ips: { "node-a": ["198.18.0.1", "2001:db8::1"], "node-b": ["198.18.0.2", "2001:db8::2"] },
  });
  const node = { ...w.nodes.get("node-a")!, uid: "u1", podCIDRs: ["198.19.0.0/26", "2001:db8:1::/64"] };
  const cn = ciliumNodeFor(node, agentView("node-a", w, 1000)!, "boot-1");
  assert.deepEqual(cn.spec.addresses, [
    { type: "InternalIP", ip: "198.18.0.1" },
    { type: "InternalIP", ip: "2001:db8::1" },
    { type: "CiliumInternalIP", ip: "198.19.0.62" },
    { type: "CiliumInternalIP", ip: "2001:db8:1:0:ffff:ffff:ffff:fffe" },
  ]);
  assert.deepEqual(cn.spec.encryption, { key: 7 });
  assert.equal(cn.spec.bootid, "boot-1");
  assert.deepEqual(cn.metadata.ownerReferences, [{ apiVersion: "v1", kind: "Node", name: "node-a", uid: "u1" }]);
  assert.deepEqual(cn.metadata.annotations, {});
});

test("a WireGuard agent advertises its public key and key 0xFF, 0 when opted out", () => {
  const w = world({
    nodes: ["node-a", "node-b"],
    minor: "1.18",
    config: wireguardConfig({ "encrypt-node": "true" }),
    labels: { "node-b": { "node-role.kubernetes.io/control-plane": "" } },
  });
  const a = ciliumNodeFor(w.nodes.get("node-a")!, agentView("node-a", w, 1000)!, "b");
  assert.equal(a.metadata.annotations["network.cilium.io/wg-pub-key"], w.wgPublicKey("node-a"));
  assert.deepEqual(a.spec.encryption, { key: 255 });
  assert.deepEqual(ciliumNodeFor(w.nodes.get("node-b")!, agentView("node-b", w, 1000)!, "b").spec.encryption, {});
});
