// The agent simulator's long-running process (started by test/sim/sim.sh): watches the cluster
// through `kubectl proxy`, creates a kwok Exec per bound pod (so every exec'd process knows its
// pod, namespace and node), and answers on STATE_DIR/sim.sock:
//   POST /exec?namespace=&pod=   body: NUL-terminated argv of cilium-dbg -> "<code> <outLen> <errLen>\n<stdout><stderr>"
//   GET  /state[?nodes=a,b]       nodes and per-node agent facts, of all nodes or the named ones (JSON; test/sim/README.md)
//   GET  /nodes                   every node's addresses and pod CIDRs as watched (JSON), for the datapath stand-ins
//   GET  /path?from=&to=          how pod traffic from one node to another is encrypted (JSON)
//   GET  /healthz                 200 once the first list of every watched kind is in
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { run } from "../agent/cli";
import { agentView, knownNodes, pathFacts, type Remote } from "../agent/model";
import type { Output } from "../agent/render";
import { SOURCE_VERSION } from "../agent/versions";
import { carryCounters, FaultDir } from "./faults";
import { Kube, startProxy } from "./kube";
import { CiliumNodePublisher } from "./publisher";
import { type PodRecord, Store } from "./store";

const stateDir = process.argv[2];
if (!stateDir) {
  console.error("usage: main.ts STATE_DIR");
  process.exit(2);
}
const execPath = process.env.SIM_EXEC_PATH ?? process.env.PATH ?? "";
const log = (msg: string): void => console.error(`[sim ${new Date().toISOString()}] ${msg}`);

const store = new Store();
store.wgKeysFile = join(stateDir, "wg-public-keys.json");
const faultDir = new FaultDir(join(stateDir, "faults"));
mkdirSync(join(stateDir, "faults"), { recursive: true });

// ---- kwok Exec per pod ----

const EXEC_API = "/apis/kwok.x-k8s.io/v1alpha1";
let kube: Kube;
const execQueue: PodRecord[] = [];
let execWorkers = 0;

function execObject(p: PodRecord) {
  const env = (name: string, value: string) => ({ name, value });
  return {
    apiVersion: "kwok.x-k8s.io/v1alpha1",
    kind: "Exec",
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: { "app.kubernetes.io/managed-by": "cilium-agent-simulator" },
      // Garbage-collected with the pod.
      ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: p.name, uid: p.uid }],
    },
    spec: {
      execs: [
        {
          local: {
            envs: [
              env("SIM_POD_NAME", p.name),
              env("SIM_POD_NAMESPACE", p.namespace),
              env("SIM_NODE_NAME", p.node ?? ""),
              env("SIM_STATE_DIR", stateDir!),
              env("PATH", execPath),
            ],
          },
        },
      ],
    },
  };
}

async function createExec(p: PodRecord): Promise<void> {
  const path = `${EXEC_API}/namespaces/${p.namespace}/execs`;
  const r = await kube.call("POST", path, execObject(p));
  if (r.status === 409) {
    // Left by an earlier pod of the same name: replace it so the identity is this pod's.
    const del = await kube.call("DELETE", `${path}/${p.name}`);
    if (del.status !== 200 && del.status !== 404) throw new Error(`delete Exec ${p.namespace}/${p.name}: HTTP ${del.status}`);
    const again = await kube.call("POST", path, execObject(p));
    if (again.status !== 201) throw new Error(`create Exec ${p.namespace}/${p.name}: HTTP ${again.status}: ${again.body.slice(0, 200)}`);
  } else if (r.status !== 201) {
    throw new Error(`create Exec ${p.namespace}/${p.name}: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
  }
}

function queueExec(p: PodRecord): void {
  execQueue.push(p);
  while (execWorkers < 4 && execQueue.length > 0) {
    execWorkers++;
    void (async () => {
      for (let next = execQueue.shift(); next !== undefined; next = execQueue.shift()) {
        // The pod may be gone already (namespace deleted); nothing to identify then.
        if (!store.pods.has(next.uid)) continue;
        await createExec(next).catch((e: Error) => log(e.message));
      }
      execWorkers--;
    })();
  }
}

// ---- answers ----

let faultErrors = new Map<string, string>();
let publisher: CiliumNodePublisher | undefined;
function refreshFaults(): void {
  const f = faultDir.read();
  faultErrors = f.errors;
  if (f.changed) {
    store.setFaults(carryCounters(store.world.faults, f.faults, Date.now()));
    publisher?.poke();
  }
}

// The nodes Cilium knows depend only on the observed history: one index per change and second.
let knownCache: { key: string; known: Map<string, Remote> } | undefined;
function known(t: number): Map<string, Remote> {
  const key = `${store.version}@${Math.floor(t / 1000)}`;
  if (knownCache?.key !== key) knownCache = { key, known: knownNodes(store.world, t) };
  return knownCache.known;
}

const simError = (msg: string): Output => ({ stdout: "", stderr: `cilium-dbg simulator: ${msg}\n`, code: 3 });

function exec(namespace: string, pod: string, argv: string[]): Output {
  refreshFaults();
  const rec = store.podByName(namespace, pod);
  if (rec === undefined) return simError(`pod ${namespace}/${pod} is not known to the simulator`);
  if (rec.unsupportedImage !== undefined) {
    return simError(`image ${rec.unsupportedImage} names no simulated Cilium version (${Object.values(SOURCE_VERSION).join(", ")})`);
  }
  if (rec.agent === undefined) return simError(`pod ${namespace}/${pod} is not a Cilium agent (label k8s-app=cilium, container cilium-agent)`);
  const err = faultErrors.get(rec.agent.node);
  if (err !== undefined) return simError(`faults/${rec.agent.node}.json: ${err}`);
  const t = Date.now();
  const view = agentView(rec.agent.node, store.world, t, known(t));
  // Another pod of the DaemonSet replaced this one on the node: this process is gone.
  if (view === undefined || view.pod.uid !== rec.uid) return simError(`pod ${namespace}/${pod} is no longer the agent of ${rec.agent.node}`);
  return run(argv, view);
}

// Named nodes only when asked: each capture needs the facts of its own pair, and an agent view per
// node of a thousand-node cluster on every capture would make the wire check quadratic.
function state(only: ReadonlySet<string> | null): unknown {
  refreshFaults();
  const t = Date.now();
  const k = known(t);
  const nodes = [...store.world.nodes.values()]
    .filter((n) => only === null || only.has(n.name))
    .map((n) => {
      const v = agentView(n.name, store.world, t, k);
      const agent =
        v === undefined
          ? null
          : {
              pod: { namespace: v.pod.namespace, name: v.pod.name },
              version: SOURCE_VERSION[v.minor],
              reachable: v.reachable,
              downReason: v.downReason ?? null,
              mode: v.mode ?? null,
              config: {
                ipsec: v.cfg.ipsec,
                wireguard: v.cfg.wireguard,
                encryptNode: v.cfg.encryptNode,
                ipv4: v.cfg.ipv4,
                ipv6: v.cfg.ipv6,
                routingMode: v.cfg.routingMode,
                tunnelProtocol: v.cfg.tunnelProtocol,
                ipam: v.cfg.ipam,
                keyRotationMs: v.cfg.keyRotationMs,
                strictMode: v.cfg.strictMode,
              },
              ipsec:
                v.kernel.ipsec === undefined
                  ? null
                  : {
                      keysInUse: v.kernel.ipsec.keys,
                      spis: v.kernel.ipsec.spis,
                      key:
                        v.currentKey === undefined
                          ? null
                          : {
                              spi: v.currentKey.spi,
                              algorithm: v.currentKey.algorithm,
                              keyBytes: v.currentKey.keyBytes,
                              perNodeKeys: v.currentKey.perNodeKeys,
                              kernelAccepts: v.currentKey.kernel.ok,
                            },
                    },
              wireguard:
                v.kernel.wireguard === undefined
                  ? null
                  : {
                      publicKey: v.kernel.wireguard.publicKey,
                      peers: v.kernel.wireguard.peers,
                      nodeEncryption: v.wireguard?.nodeEncryption ?? null,
                    },
            };
      return { name: n.name, internalIPs: n.internalIPs, labels: n.labels, agent };
    });
  return { at: new Date(t).toISOString(), agentCalls, nodes, faultErrors: Object.fromEntries(faultErrors) };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

let ready = false;
/** cilium-dbg calls answered: lets a test see that the verifier asked the agents again. */
let agentCalls = 0;

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://sim");
  const json = (code: number, body: unknown): void => {
    res.writeHead(code, { "Content-Type": "application/json" });
    res.end(`${JSON.stringify(body, null, 1)}\n`);
  };
  if (url.pathname === "/healthz") return json(ready ? 200 : 503, { ready });
  if (!ready) return json(503, { error: "simulator not synced yet" });
  if (url.pathname === "/exec" && req.method === "POST") {
    const body = (await readBody(req)).toString("utf8");
    const argv = body === "" ? [] : body.replace(/\0$/, "").split("\0");
    const out = exec(url.searchParams.get("namespace") ?? "", url.searchParams.get("pod") ?? "", argv);
    agentCalls++;
    const o = Buffer.from(out.stdout);
    const e = Buffer.from(out.stderr);
    res.writeHead(200, { "Content-Type": "application/octet-stream" });
    res.end(Buffer.concat([Buffer.from(`${out.code} ${o.length} ${e.length}\n`), o, e]));
    return;
  }
  if (url.pathname === "/state") {
    const only = url.searchParams.get("nodes");
    return json(200, state(only === null ? null : new Set(only.split(",").filter((n) => n !== ""))));
  }
  if (url.pathname === "/nodes") {
    return json(200, { nodes: [...store.world.nodes.values()].map((n) => ({ name: n.name, internalIPs: n.internalIPs, podCIDRs: n.podCIDRs ?? [] })) });
  }
  if (url.pathname === "/path") {
    const from = url.searchParams.get("from");
    const to = url.searchParams.get("to");
    if (!from || !to) return json(400, { error: "from and to (node names) are required" });
    refreshFaults();
    const t = Date.now();
    return json(200, pathFacts(from, to, store.world, t, known(t)));
  }
  json(404, { error: `no such endpoint ${url.pathname}` });
}

async function main(): Promise<void> {
  const sock = join(stateDir!, "sim.sock");
  const proxySock = join(stateDir!, "kapi.sock");
  for (const s of [sock, proxySock]) if (existsSync(s)) rmSync(s);
  const proxy = await startProxy(proxySock);
  writeFileSync(join(stateDir!, "proxy.pid"), `${proxy.pid}\n`);
  const stop = (): void => {
    proxy.kill();
    for (const s of [sock, proxySock]) rmSync(s, { force: true });
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  proxy.on("exit", (code) => {
    log(`kubectl proxy exited (${code}); stopping`);
    process.exit(1);
  });
  kube = new Kube(proxySock);

  const api = await kube.call("GET", EXEC_API);
  if (api.status !== 200 || !api.body.includes('"execs"')) {
    throw new Error("the cluster serves no kwok Exec objects: kwok must run with enableCRDs including Exec (toolchain/cluster.sh)");
  }

  store.onBound = queueExec;
  publisher = new CiliumNodePublisher(kube, store, known, process.env.SIM_CILIUM_CHARTS || undefined, log);
  const pub = publisher;
  // Every observed change may change what an agent publishes.
  const then =
    <T>(f: (x: T) => void) =>
    (x: T): void => {
      f(x);
      pub.poke();
    };
  const watches = [
    kube.informer(
      "/api/v1/nodes",
      then((i) => store.nodesListed(i)),
      then((e) => store.nodeEvent(e)),
      (e) => log(`nodes: ${e.message}`),
    ),
    kube.informer(
      "/api/v1/configmaps?fieldSelector=metadata.name%3Dcilium-config",
      then((i) => store.configMapsListed(i)),
      then((e) => store.configMapEvent(e)),
      (e) => log(`configmaps: ${e.message}`),
    ),
    // Helm's release records are the bulk of a cluster's Secrets and never hold a key file.
    kube.informer(
      "/api/v1/secrets?fieldSelector=type%21%3Dhelm.sh%2Frelease.v1",
      then((i) => store.secretsListed(i)),
      then((e) => store.secretEvent(e)),
      (e) => log(`secrets: ${e.message}`),
    ),
  ];
  // Pods last: an agent binds to the config and key history seen so far.
  await Promise.all(watches.map((w) => w.synced));
  const pods = kube.informer(
    "/api/v1/pods",
    then((i) => store.podsListed(i)),
    then((e) => store.podEvent(e)),
    (e) => log(`pods: ${e.message}`),
  );
  await pods.synced;
  // Time alone changes agents too (key watcher jitter, a crash-looping agent coming up).
  setInterval(() => {
    refreshFaults();
    pub.poke();
  }, 2000).unref();

  const server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      log(`request ${req.url}: ${e.stack ?? e.message}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  ready = true;
  log(`ready on ${sock} (Cilium ${Object.values(SOURCE_VERSION).join(", ")})`);
}

main().catch((e: Error) => {
  log(`fatal: ${e.message}`);
  process.exit(1);
});
