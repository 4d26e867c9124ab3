// The simulator's memory of the cluster: what it observed, when. Feeds agent/model.ts.
// Secrets are parsed on arrival and only the derived facts are kept (never key material).
import { createHash, generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { type ParsedKeyFile, parseKeyFile } from "../agent/keyfile";
import type { AgentPod, NodeFaults, NodeInfo, SecretVersion, World } from "../agent/model";
import { MINORS, type Minor, minorOfImage } from "../agent/versions";
import type { KubeObject, WatchEvent } from "./kube";

interface PodSpec {
  nodeName?: string;
  containers?: { name: string; image?: string; volumeMounts?: { name: string; mountPath: string }[] }[];
  volumes?: { name: string; secret?: { secretName?: string }; configMap?: { name?: string } }[];
}

/** A pod the simulator tracks for identity (every bound pod) and, for agents, as an AgentPod. */
export interface PodRecord {
  namespace: string;
  name: string;
  uid: string;
  node?: string;
  /** Set for cilium-agent pods whose image names a simulated minor. */
  agent?: AgentPod;
  /** Set for cilium-agent pods whose image the simulator cannot map to a minor. */
  unsupportedImage?: string;
}

const AGENT_LABEL = ["k8s-app", "cilium"] as const;
const AGENT_CONTAINER = "cilium-agent";
const rv = (o: KubeObject): bigint => BigInt(o.metadata.resourceVersion || "0");

export class Store {
  readonly world: World;
  readonly pods = new Map<string, PodRecord>();
  /** ConfigMap history by "ns/name": data as observed, with the resourceVersion that carried it. */
  private readonly configMaps = new Map<string, { rv: bigint; data: Record<string, string> | undefined }[]>();
  private readonly secretDigest = new Map<string, string>();
  private readonly wgKeys = new Map<string, string>();
  private maxRv = 0n;
  private readonly podsByName = new Map<string, PodRecord>();
  /** Bumped on every change that can alter an output; caches key on it. */
  version = 0;
  /** Called with a bound pod the first time it is seen bound (to create its kwok Exec). */
  onBound: (p: PodRecord) => void = () => undefined;

  /** Public keys made so far are kept here (the private halves are never kept anywhere). */
  wgKeysFile: string | undefined;

  constructor(private readonly now: () => number = Date.now) {
    this.world = {
      nodes: new Map(),
      podsByNode: new Map(),
      secrets: new Map(),
      faults: new Map(),
      wgPublicKey: (node) => this.wgPublicKey(node),
    };
  }

  // The node's WireGuard key pair is made once per node, like cilium_wg0.key on the host (it
  // outlives agent pods and a restart of the simulator); only the public half is kept.
  private wgPublicKey(node: string): string {
    if (this.wgKeys.size === 0 && this.wgKeysFile !== undefined && existsSync(this.wgKeysFile)) {
      for (const [n, k] of Object.entries(JSON.parse(readFileSync(this.wgKeysFile, "utf8")) as Record<string, string>)) this.wgKeys.set(n, k);
    }
    let k = this.wgKeys.get(node);
    if (k === undefined) {
      const der = generateKeyPairSync("x25519").publicKey.export({ format: "der", type: "spki" });
      k = der.subarray(der.length - 32).toString("base64");
      this.wgKeys.set(node, k);
      if (this.wgKeysFile !== undefined) writeFileSync(this.wgKeysFile, JSON.stringify(Object.fromEntries(this.wgKeys)));
    }
    return k;
  }

  setFaults(faults: Map<string, NodeFaults>): void {
    this.world.faults = faults;
    this.version++;
  }

  private seen(o: KubeObject): void {
    const r = rv(o);
    if (r > this.maxRv) this.maxRv = r;
  }

  // ---- nodes ----

  nodesListed(items: KubeObject[]): void {
    this.world.nodes.clear();
    for (const n of items) this.nodeEvent({ type: "ADDED", object: n });
  }

  nodeEvent(e: WatchEvent): void {
    const name = e.object.metadata.name;
    if (e.type === "DELETED") this.world.nodes.delete(name);
    else {
      const status = e.object.status as { addresses?: { type: string; address: string }[] } | undefined;
      const spec = e.object.spec as { podCIDRs?: string[]; podCIDR?: string } | undefined;
      const info: NodeInfo = {
        name,
        internalIPs: (status?.addresses ?? []).filter((a) => a.type === "InternalIP").map((a) => a.address),
        labels: e.object.metadata.labels ?? {},
        uid: e.object.metadata.uid,
        podCIDRs: spec?.podCIDRs ?? (spec?.podCIDR ? [spec.podCIDR] : []),
      };
      this.world.nodes.set(name, info);
    }
    this.version++;
  }

  // ---- config maps ----

  configMapsListed(items: KubeObject[]): void {
    const seen = new Set<string>();
    for (const o of items) {
      seen.add(`${o.metadata.namespace}/${o.metadata.name}`);
      this.configMapEvent({ type: "MODIFIED", object: o });
    }
    // Gone while the watch was down: deleted by now, at a revision after everything seen so far.
    for (const [key, hist] of this.configMaps) {
      if (!seen.has(key) && hist[hist.length - 1]?.data !== undefined) hist.push({ rv: this.maxRv + 1n, data: undefined });
    }
  }

  configMapEvent(e: WatchEvent): void {
    const key = `${e.object.metadata.namespace}/${e.object.metadata.name}`;
    const hist = this.configMaps.get(key) ?? [];
    this.configMaps.set(key, hist);
    const data = e.type === "DELETED" ? undefined : ((e.object.data as Record<string, string> | undefined) ?? {});
    this.seen(e.object);
    const last = hist[hist.length - 1];
    if (last !== undefined && JSON.stringify(last.data) === JSON.stringify(data)) return;
    // A DELETED event carries the revision of the deletion.
    hist.push({ rv: rv(e.object), data });
  }

  /**
   * ConfigMap data as of resourceVersion `at` (etcd revisions are ordered across resources). For
   * a pod older than anything seen (it ran before the simulator started), the oldest version seen.
   */
  configMapAt(namespace: string, name: string, at: bigint): Record<string, string> | undefined {
    const hist = this.configMaps.get(`${namespace}/${name}`) ?? [];
    let data = hist[0]?.data;
    for (const h of hist) if (h.rv <= at) data = h.data;
    return data;
  }

  // ---- secrets ----

  secretsListed(items: KubeObject[]): void {
    const seen = new Set<string>();
    for (const o of items) {
      seen.add(`${o.metadata.namespace}/${o.metadata.name}`);
      this.secretEvent({ type: "MODIFIED", object: o });
    }
    for (const key of this.world.secrets.keys()) {
      if (!seen.has(key)) this.secretGone(key);
    }
  }

  private secretGone(key: string): void {
    const hist = this.world.secrets.get(key);
    if (hist === undefined || hist[hist.length - 1]?.files === undefined) return;
    hist.push({ atMs: this.now(), files: undefined });
    this.secretDigest.delete(key);
    this.version++;
  }

  secretEvent(e: WatchEvent): void {
    const key = `${e.object.metadata.namespace}/${e.object.metadata.name}`;
    if (e.type === "DELETED") {
      this.secretGone(key);
      return;
    }
    const data = (e.object.data as Record<string, string> | undefined) ?? {};
    // Change detection without keeping the values.
    const digest = createHash("sha256")
      .update(JSON.stringify(Object.entries(data).sort()))
      .digest("hex");
    if (this.secretDigest.get(key) === digest) return;
    this.secretDigest.set(key, digest);
    const files = new Map<string, Record<Minor, ParsedKeyFile>>();
    for (const [k, b64] of Object.entries(data)) {
      const content = Buffer.from(b64, "base64").toString("utf8");
      files.set(k, Object.fromEntries(MINORS.map((m) => [m, parseKeyFile(m, content)])) as Record<Minor, ParsedKeyFile>);
    }
    const hist = this.world.secrets.get(key) ?? [];
    this.world.secrets.set(key, hist);
    const version: SecretVersion = { atMs: this.now(), files };
    hist.push(version);
    this.version++;
  }

  // ---- pods ----

  podsListed(items: KubeObject[]): void {
    const seen = new Set<string>();
    for (const o of items) {
      seen.add(o.metadata.uid);
      this.podEvent({ type: "MODIFIED", object: o });
    }
    for (const [uid, p] of this.pods) if (!seen.has(uid)) this.podGone(uid, p);
  }

  private podGone(uid: string, p: PodRecord): void {
    if (p.agent !== undefined && p.agent.endMs === undefined) p.agent.endMs = this.now();
    this.pods.delete(uid);
    if (this.podsByName.get(`${p.namespace}/${p.name}`) === p) this.podsByName.delete(`${p.namespace}/${p.name}`);
    this.version++;
  }

  podEvent(e: WatchEvent): void {
    const o = e.object;
    this.seen(o);
    const uid = o.metadata.uid;
    const existing = this.pods.get(uid);
    if (e.type === "DELETED") {
      if (existing !== undefined) this.podGone(uid, existing);
      return;
    }
    const spec = o.spec as PodSpec;
    const rec: PodRecord = existing ?? { namespace: o.metadata.namespace!, name: o.metadata.name, uid };
    this.pods.set(uid, rec);
    this.podsByName.set(`${rec.namespace}/${rec.name}`, rec);
    if (rec.node === undefined && spec.nodeName) {
      rec.node = spec.nodeName;
      this.bindAgent(rec, o, spec);
      this.onBound(rec);
      this.version++;
    }
    // A terminating agent stops serving; its kernel state stays on the node.
    if (o.metadata.deletionTimestamp && rec.agent !== undefined && rec.agent.endMs === undefined) {
      rec.agent.endMs = this.now();
      this.version++;
    }
  }

  private bindAgent(rec: PodRecord, o: KubeObject, spec: PodSpec): void {
    if (o.metadata.labels?.[AGENT_LABEL[0]] !== AGENT_LABEL[1]) return;
    const container = spec.containers?.find((c) => c.name === AGENT_CONTAINER);
    if (container === undefined) return;
    const minor = minorOfImage(container.image ?? "");
    if (minor === undefined) {
      rec.unsupportedImage = container.image ?? "(none)";
      return;
    }
    const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
    const mounts = (container.volumeMounts ?? []).map((m) => {
      const v = volumes.get(m.name);
      const out: AgentPod["mounts"][number] = { mountPath: m.mountPath };
      if (v?.secret?.secretName) out.secret = v.secret.secretName;
      if (v?.configMap?.name) out.configMap = v.configMap.name;
      return out;
    });
    // The chart mounts cilium-config as the agent's config directory (volume cilium-config-path).
    const cmName = mounts.find((m) => m.configMap !== undefined && m.mountPath === "/tmp/cilium/config-map")?.configMap ?? "cilium-config";
    const agent: AgentPod = {
      namespace: rec.namespace,
      name: rec.name,
      uid: rec.uid,
      node: rec.node!,
      minor,
      startMs: this.now(),
      configData: this.configMapAt(rec.namespace, cmName, rv(o)),
      mounts,
      nodeLabels: { ...(this.world.nodes.get(rec.node!)?.labels ?? {}) },
    };
    rec.agent = agent;
    const list = this.world.podsByNode.get(agent.node) ?? [];
    list.push(agent);
    this.world.podsByNode.set(agent.node, list);
  }

  podByName(namespace: string, name: string): PodRecord | undefined {
    return this.podsByName.get(`${namespace}/${name}`);
  }
}
