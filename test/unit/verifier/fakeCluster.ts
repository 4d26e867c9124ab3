// A stand-in API server for tests: answers the kubectl invocations the verifier makes from a
// scenario's fixtures. `cilium-dbg` in an agent pod answers that pod's node's generated output,
// read after read; other `kubectl exec` commands run on this host with the e2e stand-ins (tcpdump,
// ip, ping, wget) first on PATH.
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LIFETIME_ANNOTATION, LABEL as WIRE_LABEL, LABEL_VALUE as WIRE_LABEL_VALUE } from "../../../verifier/wire";
import { agentOutput, type Command, k8sObjects, loadManifest, nodeIp, STANDIN } from "./scenarios";

export interface FakeOptions {
  // DaemonSet reads that report an unfinished rollout before it completes.
  rolloutPending?: number;
  unreachable?: boolean;
  wireLeak?: boolean;
  // Calls answered with HTTP 429 before the API server serves them again.
  throttle?: number;
  // The CiliumNode CRD is not installed.
  noCiliumNodes?: boolean;
  // spec.encryption.key per node, list after list: the n-th CiliumNode list answers the n-th
  // entry (the last one repeats); nodes not named keep the scenario's key id.
  keyIds?: Array<Record<string, number>>;
  // cilium-config keys set over the scenario's.
  config?: Record<string, string>;
  // The wire check's test pods never become ready (the check waits, e.g. to be stopped).
  testPodsPending?: boolean;
  // Namespaces of the wire check that earlier runs left: created that long before this run's own.
  leftNamespaces?: Array<{ name: string; ageSeconds: number; lifetime?: string }>;
}

export const AGENT_NAMESPACE = "kube-system";
export const CLIENT_POD_IP = "10.0.1.15";
export const SERVER_POD_IP = "10.0.2.27";

export function prepareFakeCluster(dir: string, scenario: string, opts: FakeOptions = {}): void {
  mkdirSync(join(dir, "standin"), { recursive: true });
  writeFileSync(join(dir, "standin", "scenario"), `${scenario}\n`);
  if (opts.wireLeak) writeFileSync(join(dir, "standin", "wire-leak"), "");
  const m = loadManifest(scenario);
  const objs = k8sObjects({ ...m, config: { ...m.config, ...opts.config } });
  for (const [k, v] of Object.entries(objs)) writeFileSync(join(dir, `${k}.json`), v);
  writeFileSync(join(dir, "rollout-pending"), String(opts.rolloutPending ?? 0));
  writeFileSync(join(dir, "throttle"), String(opts.throttle ?? 0));
  if (opts.unreachable) writeFileSync(join(dir, "unreachable"), "");
  if (opts.noCiliumNodes) writeFileSync(join(dir, "no-ciliumnodes"), "");
  if (opts.keyIds) writeFileSync(join(dir, "key-ids.json"), JSON.stringify(opts.keyIds));
  if (opts.testPodsPending) writeFileSync(join(dir, "test-pods-pending"), "");
  writeFileSync(join(dir, "left-namespaces.json"), JSON.stringify(opts.leftNamespaces ?? []));
}

// The wire check's namespaces: this run's (once applied, created now) and those left before it.
function namespaces(dir: string): string {
  const now = Date.now();
  const meta = (name: string, ageSeconds: number, annotations: Record<string, string>) => ({
    metadata: { name, creationTimestamp: new Date(now - ageSeconds * 1000).toISOString(), labels: { [WIRE_LABEL]: WIRE_LABEL_VALUE }, annotations },
  });
  const left = JSON.parse(readFileSync(join(dir, "left-namespaces.json"), "utf8")) as NonNullable<FakeOptions["leftNamespaces"]>;
  const items = left.map((n) => meta(n.name, n.ageSeconds, n.lifetime === undefined ? {} : { [LIFETIME_ANNOTATION]: n.lifetime }));
  if (existsSync(join(dir, "applied.json"))) {
    const applied = JSON.parse(readFileSync(join(dir, "applied.json"), "utf8")) as {
      items: Array<{ kind: string; metadata: { name: string; annotations?: Record<string, string> } }>;
    };
    for (const i of applied.items) if (i.kind === "Namespace") items.push(meta(i.metadata.name, 0, i.metadata.annotations ?? {}));
  }
  return JSON.stringify({ items });
}

export function ciliumNodeLists(dir: string): number {
  return calls(dir).filter((a) => a.includes("get") && a.includes("ciliumnodes")).length;
}

// The list a CiliumNode read answers: the scenario's objects with the key ids of this read.
function ciliumNodes(dir: string): string {
  const list = JSON.parse(readFileSync(join(dir, "ciliumnodes.json"), "utf8")) as {
    items: Array<{ metadata: { name: string }; spec: { encryption?: { key?: number } } }>;
  };
  if (!existsSync(join(dir, "key-ids.json"))) return JSON.stringify(list);
  const steps = JSON.parse(readFileSync(join(dir, "key-ids.json"), "utf8")) as Array<Record<string, number>>;
  const step = steps[Math.min(ciliumNodeLists(dir), steps.length) - 1]!;
  for (const item of list.items) {
    const id = step[item.metadata.name];
    // omitempty: key 0 is not written.
    if (id !== undefined) item.spec.encryption = id === 0 ? {} : { key: id };
  }
  return JSON.stringify(list);
}

export interface FakeResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

const ok = (stdout: string | Buffer): FakeResult => ({ code: 0, stdout: Buffer.isBuffer(stdout) ? stdout : Buffer.from(stdout), stderr: "" });
const fail = (stderr: string, code = 1): FakeResult => ({ code, stdout: Buffer.alloc(0), stderr });

export function calls(dir: string): string[][] {
  const p = join(dir, "calls.log");
  return existsSync(p)
    ? readFileSync(p, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as string[])
    : [];
}

// The kubectl command line of a command in a pod, which this fake answers.
export function execArgv(target: { namespace: string; pod: string; container?: string }, command: readonly string[]): string[] {
  return ["-n", target.namespace, "exec", target.pod, ...(target.container ? ["-c", target.container] : []), "--", ...command];
}

export function logCall(dir: string, argv: readonly string[]): void {
  appendFileSync(join(dir, "calls.log"), `${JSON.stringify(argv)}\n`);
}

export function handleKubectl(dir: string, argv: readonly string[], input: string): FakeResult {
  logCall(dir, argv);
  const throttle = Number(readFileSync(join(dir, "throttle"), "utf8"));
  if (throttle > 0) {
    writeFileSync(join(dir, "throttle"), String(throttle - 1));
    return fail("Error from server (TooManyRequests): the server has received too many requests and has asked us to try again later");
  }
  const args = argv.filter((a) => !a.startsWith("--kubeconfig=") && !a.startsWith("--context="));
  let ns = "default";
  const rest: string[] = [];
  const end = args.includes("--") ? args.indexOf("--") : args.length;
  for (let i = 0; i < args.length; i++) {
    if (i < end && args[i] === "-n") ns = args[++i]!;
    else rest.push(args[i]!);
  }
  const dashdash = rest.indexOf("--");
  const [verb, ...more] = dashdash >= 0 ? rest.slice(0, dashdash) : rest;
  const read = (f: string): string => readFileSync(join(dir, f), "utf8");

  if (verb === "config" && more[0] === "view") {
    // What kubectl prints of the kubeconfig it was given: one context, named e2e.
    return ok(
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: e2e, context: {cluster: c, user: u}}]\n',
    );
  } // Only calls to the API server fail; reading the kubeconfig is local.
  if (existsSync(join(dir, "unreachable"))) {
    return fail("The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?");
  }

  if (verb === "get") {
    const kind = more[0];
    if (kind === "daemonset") {
      const pending = Number(read("rollout-pending"));
      const ds = JSON.parse(read("daemonset.json")) as { status: Record<string, number> };
      if (pending > 0) {
        writeFileSync(join(dir, "rollout-pending"), String(pending - 1));
        ds.status.updatedNumberScheduled = Math.max(0, ds.status.desiredNumberScheduled! - pending);
      }
      return ok(JSON.stringify(ds));
    }
    if (kind === "nodes") return ok(read("nodes.json"));
    if (kind === "pods") return ns === AGENT_NAMESPACE ? ok(read("pods.json")) : listTestPods(dir, ns);
    if (kind === "configmap") return ok(read("configmap.json"));
    if (kind === "ciliumnodes") {
      if (existsSync(join(dir, "no-ciliumnodes"))) return fail('error: the server doesn\'t have a resource type "ciliumnodes"');
      return ok(ciliumNodes(dir));
    }
    if (kind === "pod") return getTestPod(dir, ns, more[1]!);
    if (kind === "namespaces") return ok(namespaces(dir));
    return fail(`fake kubectl: unsupported get ${more.join(" ")}`);
  }
  if (verb === "apply") {
    const list = JSON.parse(input) as {
      items: Array<{ kind: string; metadata: { name: string; namespace?: string }; spec?: { nodeName?: string; hostNetwork?: boolean } }>;
    };
    writeFileSync(join(dir, "applied.json"), JSON.stringify(list));
    return ok(`${list.items.map((i) => `${i.kind.toLowerCase()}/${i.metadata.name}`).join("\n")}\n`);
  }
  if (verb === "delete") return ok(`${more.join("/")} deleted\n`);
  if (verb === "exec") {
    const command = rest.slice(dashdash + 1);
    if (command[0] === "cilium-dbg") return agentExec(dir, more[0]!, command.slice(1));
    // The stand-in tcpdump stops by itself once its capture is written, like one stopped by timeout.
    if (command[0] === "pkill") return { code: 1, stdout: Buffer.alloc(0), stderr: "command terminated with exit code 1\n" };
    const program = command[0] === "timeout" ? command[4] : command[0];
    if (program === undefined || !existsSync(join(STANDIN, program))) return fail(`fake kubectl exec: no stand-in for ${command.join(" ")}`);
    const r = spawnSync(command[0]!, command.slice(1), {
      env: { ...process.env, PATH: `${STANDIN}:${process.env.PATH}`, CILIUM_STANDIN_DIR: join(dir, "standin") },
      timeout: 30_000,
    });
    if (r.error) return fail(`fake kubectl exec: ${r.error.message}`);
    const stderr = r.stderr.toString("utf8") + (r.status ? `command terminated with exit code ${r.status}\n` : "");
    return { code: r.status ?? 1, stdout: r.stdout, stderr };
  }
  return fail(`fake kubectl: unsupported command ${rest.join(" ")}`);
}

// kubectl exec relays the command's streams and adds its exit status to stderr.
function agentExec(dir: string, pod: string, args: readonly string[]): FakeResult {
  const kind: Command | null = args.join(" ") === "encrypt status -o json" ? "encrypt-status" : args.join(" ") === "status -o json" ? "status" : null;
  if (kind === null) return fail(`fake cilium-dbg: unsupported command ${args.join(" ")}`);
  const pods = (JSON.parse(readFileSync(join(dir, "pods.json"), "utf8")) as { items: Array<{ metadata: { name: string }; spec: { nodeName: string } }> }).items;
  const node = pods.find((p) => p.metadata.name === pod)?.spec.nodeName;
  if (node === undefined) return fail(`Error from server (NotFound): pods "${pod}" not found`);
  const counter = join(dir, `reads.${node}.${kind}`);
  const n = (existsSync(counter) ? Number(readFileSync(counter, "utf8")) : 0) + 1;
  writeFileSync(counter, String(n));
  const scenario = readFileSync(join(dir, "standin", "scenario"), "utf8").trim();
  const out = agentOutput(scenario, node, kind, n);
  if (out === null) return fail(`fake cilium-dbg: scenario ${scenario} has no output for ${node}`);
  return { code: out.code, stdout: Buffer.from(out.stdout), stderr: out.code ? `${out.stderr}command terminated with exit code ${out.code}\n` : "" };
}

export function readsOf(dir: string, node: string, kind: Command): number {
  const counter = join(dir, `reads.${node}.${kind}`);
  return existsSync(counter) ? Number(readFileSync(counter, "utf8")) : 0;
}

interface AppliedPod {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { nodeName?: string; hostNetwork?: boolean };
}

// The wire check's pods as the API server would report them once running.
function testPods(dir: string, ns: string): object[] {
  if (!existsSync(join(dir, "applied.json"))) return [];
  const list = JSON.parse(readFileSync(join(dir, "applied.json"), "utf8")) as { items: AppliedPod[] };
  const nodes = (JSON.parse(readFileSync(join(dir, "nodes.json"), "utf8")) as { items: Array<{ metadata: { name: string } }> }).items;
  return list.items
    .filter((i) => i.kind === "Pod" && i.metadata.namespace === ns)
    .map((item) => {
      const name = item.metadata.name;
      const nodeIndex = nodes.findIndex((n) => n.metadata.name === item.spec?.nodeName);
      const ip = item.spec?.hostNetwork ? nodeIp(nodeIndex) : /server$/.test(name) ? SERVER_POD_IP : CLIENT_POD_IP;
      const ready = !existsSync(join(dir, "test-pods-pending"));
      return {
        metadata: { name, namespace: ns },
        spec: { nodeName: item.spec?.nodeName },
        status: { phase: ready ? "Running" : "Pending", podIP: ip, podIPs: [{ ip }], containerStatuses: [{ name: "c", ready }] },
      };
    });
}

function listTestPods(dir: string, ns: string): FakeResult {
  return ok(JSON.stringify({ items: testPods(dir, ns) }));
}

function getTestPod(dir: string, ns: string, name: string): FakeResult {
  const pod = testPods(dir, ns).find((p) => (p as { metadata: { name: string } }).metadata.name === name);
  return pod ? ok(JSON.stringify(pod)) : fail(`Error from server (NotFound): pods "${name}" not found`);
}
