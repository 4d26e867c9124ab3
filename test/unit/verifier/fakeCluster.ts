// A stand-in API server for tests: answers the kubectl invocations the verifier makes from a
// scenario's fixtures, and runs `kubectl exec` commands on this host with the stand-ins first on
// PATH, the way the kwok cluster of the e2e harness does.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { k8sObjects, loadManifest, nodeIp, STANDIN } from './scenarios';

export interface FakeOptions {
  // DaemonSet reads that report an unfinished rollout before it completes.
  rolloutPending?: number;
  unreachable?: boolean;
  wireLeak?: boolean;
}

export const CLIENT_POD_IP = '10.0.1.15';
export const SERVER_POD_IP = '10.0.2.27';

export function prepareFakeCluster(dir: string, scenario: string, opts: FakeOptions = {}): void {
  mkdirSync(join(dir, 'standin'), { recursive: true });
  writeFileSync(join(dir, 'standin', 'scenario'), `${scenario}\n`);
  if (opts.wireLeak) writeFileSync(join(dir, 'standin', 'wire-leak'), '');
  const objs = k8sObjects(loadManifest(scenario));
  for (const [k, v] of Object.entries(objs)) writeFileSync(join(dir, `${k}.json`), v);
  writeFileSync(join(dir, 'rollout-pending'), String(opts.rolloutPending ?? 0));
  if (opts.unreachable) writeFileSync(join(dir, 'unreachable'), '');
}

export interface FakeResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

const ok = (stdout: string | Buffer): FakeResult => ({ code: 0, stdout: Buffer.isBuffer(stdout) ? stdout : Buffer.from(stdout), stderr: '' });
const fail = (stderr: string, code = 1): FakeResult => ({ code, stdout: Buffer.alloc(0), stderr });

export function calls(dir: string): string[][] {
  const p = join(dir, 'calls.log');
  return existsSync(p) ? readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]) : [];
}

export function handleKubectl(dir: string, argv: readonly string[], input: string): FakeResult {
  appendFileSync(join(dir, 'calls.log'), `${JSON.stringify(argv)}\n`);
  if (existsSync(join(dir, 'unreachable'))) {
    return fail('The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?');
  }
  const args = argv.filter((a) => !a.startsWith('--kubeconfig=') && !a.startsWith('--context='));
  let ns = 'default';
  const rest: string[] = [];
  const end = args.includes('--') ? args.indexOf('--') : args.length;
  for (let i = 0; i < args.length; i++) {
    if (i < end && args[i] === '-n') ns = args[++i]!;
    else rest.push(args[i]!);
  }
  const dashdash = rest.indexOf('--');
  const [verb, ...more] = dashdash >= 0 ? rest.slice(0, dashdash) : rest;
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');

  if (verb === 'get') {
    const kind = more[0];
    if (kind === 'daemonset') {
      const pending = Number(read('rollout-pending'));
      const ds = JSON.parse(read('daemonset.json')) as { status: Record<string, number> };
      if (pending > 0) {
        writeFileSync(join(dir, 'rollout-pending'), String(pending - 1));
        ds.status.updatedNumberScheduled = Math.max(0, ds.status.desiredNumberScheduled! - pending);
      }
      return ok(JSON.stringify(ds));
    }
    if (kind === 'nodes') return ok(read('nodes.json'));
    if (kind === 'pods') return ok(read('pods.json'));
    if (kind === 'configmap') return ok(read('configmap.json'));
    if (kind === 'ciliumnodes') return fail('error: the server doesn\'t have a resource type "ciliumnodes"');
    if (kind === 'pod') return getTestPod(dir, ns, more[1]!);
    return fail(`fake kubectl: unsupported get ${more.join(' ')}`);
  }
  if (verb === 'apply') {
    const list = JSON.parse(input) as { items: Array<{ kind: string; metadata: { name: string; namespace?: string }; spec?: { nodeName?: string; hostNetwork?: boolean } }> };
    writeFileSync(join(dir, 'applied.json'), JSON.stringify(list));
    return ok(list.items.map((i) => `${i.kind.toLowerCase()}/${i.metadata.name}`).join('\n') + '\n');
  }
  if (verb === 'delete') return ok(`${more.join('/')} deleted\n`);
  if (verb === 'exec') {
    const command = rest.slice(dashdash + 1);
    const r = spawnSync(command[0]!, command.slice(1), {
      env: { ...process.env, PATH: `${STANDIN}:${process.env.PATH}`, CILIUM_STANDIN_DIR: join(dir, 'standin') },
      timeout: 30_000,
    });
    if (r.error) return fail(`fake kubectl exec: ${r.error.message}`);
    const stderr = r.stderr.toString('utf8') + (r.status ? `command terminated with exit code ${r.status}\n` : '');
    return { code: r.status ?? 1, stdout: r.stdout, stderr };
  }
  return fail(`fake kubectl: unsupported command ${rest.join(' ')}`);
}

function getTestPod(dir: string, ns: string, name: string): FakeResult {
  if (!existsSync(join(dir, 'applied.json'))) return fail(`Error from server (NotFound): pods "${name}" not found`);
  const list = JSON.parse(readFileSync(join(dir, 'applied.json'), 'utf8')) as { items: Array<{ kind: string; metadata: { name: string; namespace?: string }; spec?: { nodeName?: string; hostNetwork?: boolean } }> };
  const item = list.items.find((i) => i.kind === 'Pod' && i.metadata.name === name && i.metadata.namespace === ns);
  if (!item) return fail(`Error from server (NotFound): pods "${name}" not found`);
  const nodes = (JSON.parse(readFileSync(join(dir, 'nodes.json'), 'utf8')) as { items: Array<{ metadata: { name: string } }> }).items;
  const nodeIndex = nodes.findIndex((n) => n.metadata.name === item.spec?.nodeName);
  const ip = item.spec?.hostNetwork ? nodeIp(nodeIndex) : name === 'server' ? SERVER_POD_IP : CLIENT_POD_IP;
  return ok(JSON.stringify({
    metadata: { name, namespace: ns },
    spec: { nodeName: item.spec?.nodeName },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], containerStatuses: [{ name: 'c', ready: true }] },
  }));
}
