// The commands the wire check runs inside its pods, as kwok's local exec runs them: on this host.
// None of them sends a packet anywhere. Traffic (wget, ping) is written to the flow log; a capture
// (tcpdump) is computed when it is stopped, from the flow log and the live state
// (test/sim/datapath/README.md). Usage: cli.ts <tcpdump|ip|ping|wget|timeout|pkill> ARGS...
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { familyOf, parseAddr, pcapHeader, pcapRecord } from "./bytes";
import { compileFilter, type Filter, FilterSyntaxError } from "./filter";
import { capture, type Flow, flowCompletes, NIC, ownerOf } from "./model";
import { captureDir, flowsTouching, type KubePod, loadState, podIPs, readFlows, readPod, recordFlows, type SimEnv, simEnv } from "./world";

export const COMMANDS = ["tcpdump", "ip", "ping", "wget", "timeout", "pkill"] as const;
type Command = (typeof COMMANDS)[number];
const NOT_SIMULATED = 3;

class Exit extends Error {
  constructor(
    readonly code: number,
    readonly stderr: string,
  ) {
    super(stderr);
  }
}
const notSimulated = (cmd: string, what: string): Exit => new Exit(NOT_SIMULATED, `simulated ${cmd}: ${what}\n`);

function sameFamily(ips: readonly string[], target: string): string | undefined {
  return ips.find((ip) => familyOf(ip) === familyOf(target));
}

function validAddr(text: string): boolean {
  try {
    parseAddr(text);
    return true;
  } catch {
    return false;
  }
}

// ---- tcpdump ----

export interface TcpdumpArgs {
  device: string;
  snaplen: number;
  direction: "in" | "out" | "inout";
  write: string | null;
  filter: string;
}

export function parseTcpdump(argv: readonly string[]): TcpdumpArgs | Exit {
  const out: TcpdumpArgs = { device: "", snaplen: 262144, direction: "inout", write: null, filter: "" };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("-") || a === "-") break;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Exit(1, `tcpdump: option requires an argument -- '${a.slice(1)}'\n`);
      return v;
    };
    switch (a) {
      case "-i":
        out.device = value();
        break;
      case "-s": {
        const v = value();
        if (!/^\d+$/.test(v)) return new Exit(1, `tcpdump: invalid snaplen ${v}\n`);
        out.snaplen = Number(v) === 0 ? 262144 : Number(v);
        break;
      }
      case "-Q": {
        const v = value();
        if (v !== "in" && v !== "out" && v !== "inout") return new Exit(1, `tcpdump: ${v} is not a valid direction\n`);
        out.direction = v;
        break;
      }
      case "-w":
        out.write = value();
        break;
      // Flags that change nothing in a file written with -w.
      case "-U":
      case "-n":
      case "-nn":
      case "-p":
      case "-q":
      case "-l":
        break;
      default:
        return notSimulated("tcpdump", `option ${a} not simulated`);
    }
  }
  if (out.write !== "-") return notSimulated("tcpdump", "only `-w -` (the capture on stdout) is simulated");
  out.filter = argv.slice(i).join(" ");
  return out;
}

// Whether the container can open a packet socket: capabilities reach a process only as root
// (Kubernetes sets no ambient capabilities), NET_RAW is in the runtime's default set (containerd
// and CRI-O) unless dropped, and privileged containers have all.
export function hasNetRaw(pod: KubePod): boolean {
  const c = pod.spec.containers[0];
  const sc = (c?.securityContext ?? {}) as { privileged?: boolean; runAsUser?: number; capabilities?: { add?: string[]; drop?: string[] } };
  const podSc = (pod.spec as { securityContext?: { runAsUser?: number } }).securityContext ?? {};
  if (sc.privileged) return true;
  const user = sc.runAsUser ?? podSc.runAsUser ?? 0;
  if (user !== 0) return false;
  const norm = (l: string[] | undefined): string[] => (l ?? []).map((x) => x.toUpperCase().replace(/^CAP_/, ""));
  if (norm(sc.capabilities?.add).some((x) => x === "NET_RAW" || x === "ALL")) return true;
  return !norm(sc.capabilities?.drop).some((x) => x === "NET_RAW" || x === "ALL");
}

async function tcpdump(env: SimEnv, argv: readonly string[]): Promise<number> {
  const args = parseTcpdump(argv);
  if (args instanceof Exit) throw args;
  if (args.device !== NIC) throw new Exit(1, `tcpdump: ${args.device || "any"}: No such device exists\n(SIOCGIFHWADDR: No such device)\n`);
  let filter: Filter;
  try {
    filter = compileFilter(args.filter);
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw new Exit(1, `tcpdump: can't parse filter expression: ${e.message}\n`);
    throw e;
  }
  const pod = await readPod(env);
  if (!pod.spec.hostNetwork)
    throw notSimulated("tcpdump", "capturing inside a pod network namespace is not simulated (the wire check captures on the host network)");
  if (!hasNetRaw(pod))
    throw new Exit(1, `tcpdump: ${args.device}: You don't have permission to perform this capture on that device\n(socket: Operation not permitted)\n`);

  const start = Date.now();
  const pidFile = join(captureDir(env.stateDir), `${env.namespace}.${env.pod}.tcpdump.${process.pid}`);
  writeFileSync(pidFile, `${process.pid}\n`);
  await write(process.stdout, pcapHeader(args.snaplen));
  process.stderr.write(`tcpdump: listening on ${args.device}, link-type EN10MB (Ethernet), snapshot length ${args.snaplen} bytes\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(s, () => resolve(s));
    // Keeps the process alive until stopped (signal handlers alone do not), and never past a
    // lost stop: a real capture would end with its pod.
    setTimeout(() => resolve("SIGTERM"), 15 * 60_000);
  });
  rmSync(pidFile, { force: true });
  const end = Date.now();
  const flows = readFlows(env.stateDir, start, end);
  const state = await loadState(env.stateDir, env.node, flows);
  const records = capture(state, flowsTouching(state, env.node, flows), { node: env.node, direction: args.direction, filter, fromMs: start, toMs: end });
  for (const r of records) await write(process.stdout, pcapRecord(r, args.snaplen));
  process.stderr.write(`\n${records.length} packets captured\n${records.length} packets received by filter\n0 packets dropped by kernel\n`);
  // tcpdump ends with status 0 on the signals it catches.
  return signal === "SIGINT" || signal === "SIGTERM" || signal === "SIGHUP" ? 0 : 1;
}

function write(stream: NodeJS.WriteStream, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => stream.write(data, (e) => (e ? reject(e) : resolve())));
}

// ---- pkill: only the simulated tcpdump of the calling pod ----

async function pkill(env: SimEnv, argv: readonly string[]): Promise<number> {
  let sig: NodeJS.Signals = "SIGTERM";
  const names: string[] = [];
  for (const a of argv) {
    if (a === "-x") continue;
    const m = /^-(?:SIG)?([A-Z]+)$/.exec(a);
    if (m) sig = `SIG${m[1]}` as NodeJS.Signals;
    else if (a.startsWith("-")) throw notSimulated("pkill", `option ${a} not simulated`);
    else names.push(a);
  }
  if (names.length !== 1 || names[0] !== "tcpdump") throw notSimulated("pkill", "only `pkill [-SIGNAL] [-x] tcpdump` is simulated");
  const dir = captureDir(env.stateDir);
  const prefix = `${env.namespace}.${env.pod}.tcpdump.`;
  let hit = 0;
  for (const f of readdirSync(dir).filter((x) => x.startsWith(prefix))) {
    const pid = Number(readFileSync(join(dir, f), "utf8").trim());
    // A pid counts only while it is still our tcpdump, never a process that reused the number.
    const cmdline = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, "utf8") : "";
    if (!cmdline.split("\0").includes(join(env.stateDir, "datapath.cjs")) || !cmdline.includes("tcpdump")) {
      rmSync(join(dir, f), { force: true });
      continue;
    }
    process.kill(pid, sig);
    hit++;
  }
  return hit > 0 ? 0 : 1;
}

// ---- timeout: runs only simulated commands ----

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, KILL: 9, TERM: 15 };

async function timeout(argv: readonly string[]): Promise<number> {
  let sig = "TERM";
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith("-"); i++) {
    const a = argv[i]!;
    if (a === "-s") sig = argv[++i] ?? "";
    else if (a.startsWith("--signal=")) sig = a.slice(9);
    else throw notSimulated("timeout", `option ${a} not simulated`);
  }
  sig = sig.toUpperCase().replace(/^SIG/, "");
  if (SIGNALS[sig] === undefined) throw new Exit(125, `timeout: ${sig}: invalid signal\n`);
  const m = /^(\d+(?:\.\d+)?)s?$/.exec(argv[i] ?? "");
  if (!m) throw new Exit(125, `timeout: invalid time interval '${argv[i] ?? ""}'\n`);
  const cmd = argv[i + 1];
  if (!cmd || !(COMMANDS as readonly string[]).includes(cmd) || cmd === "timeout") {
    throw new Exit(127, `timeout: failed to run command '${cmd ?? ""}': only the simulated commands of test/sim/bin run here\n`);
  }
  // standin.sh names its own directory (test/sim/bin): the command run is the stand-in, never the host's.
  const bin = process.env.SIM_DATAPATH_BIN;
  if (!bin) throw notSimulated("timeout", "SIM_DATAPATH_BIN is not set: run the stand-ins of test/sim/bin");
  const child = spawn(join(bin, cmd), argv.slice(i + 2), { stdio: "inherit" });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill(`SIG${sig}` as NodeJS.Signals);
  }, Number(m[1]) * 1000);
  return new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      // coreutils timeout: 124 when the time ran out, else the command's status.
      if (timedOut) resolve(124);
      else resolve(code ?? 128 + (SIGNALS[(signal ?? "SIGTERM").replace(/^SIG/, "")] ?? 15));
    });
  });
}

// ---- ip -j route get ----

async function ip(env: SimEnv, argv: readonly string[]): Promise<number> {
  const json = argv[0] === "-j" || argv[0] === "-json";
  const rest = json ? argv.slice(1) : argv;
  if (!json || rest.length !== 3 || rest[0] !== "route" || rest[1] !== "get") throw notSimulated("ip", "only `ip -j route get <address>` is simulated");
  const dst = rest[2]!;
  if (!validAddr(dst)) throw new Exit(1, `Error: any valid prefix is expected rather than "${dst}".\n`);
  const own = podIPs(await readPod(env));
  if (own.some((a) => Buffer.compare(Buffer.from(parseAddr(a)), Buffer.from(parseAddr(dst))) === 0)) {
    process.stdout.write(`${JSON.stringify([{ type: "local", dst, dev: "lo", prefsrc: dst, flags: [], uid: 0, cache: ["<local>"] }])}\n`);
    return 0;
  }
  const src = sameFamily(own, dst);
  if (!src) throw new Exit(2, "RTNETLINK answers: Network is unreachable\n");
  process.stdout.write(`${JSON.stringify([{ dst, dev: NIC, prefsrc: src, flags: [], uid: 0, cache: [] }])}\n`);
  return 0;
}

// ---- traffic: ping and wget write flows, nothing else ----

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ping(env: SimEnv, argv: readonly string[]): Promise<number> {
  let count = 4;
  let interval = 1;
  let pattern = "";
  let dst: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => argv[++i] ?? "";
    if (a === "-c") count = Number(v());
    else if (a === "-i") interval = Number(v());
    else if (a === "-W") v();
    else if (a === "-p") pattern = v();
    else if (a === "-q" || a === "-n") continue;
    else if (a.startsWith("-")) throw notSimulated("ping", `option ${a} not simulated`);
    else dst = a;
  }
  if (!dst || !validAddr(dst)) throw new Exit(2, `ping: ${dst ?? ""}: Name or service not known\n`);
  if (!/^([0-9a-fA-F]{2}){0,16}$/.test(pattern)) throw new Exit(2, `ping: patterns must be specified as hex digits: ${pattern}\n`);
  if (!(count >= 1 && count <= 100) || !(interval >= 0.2)) throw notSimulated("ping", "-c 1..100 and -i >= 0.2 only");
  const src = sameFamily(podIPs(await readPod(env)), dst);
  if (!src) throw new Exit(2, "ping: connect: Network is unreachable\n");
  const flow: Flow = { kind: "ping", at: Date.now(), src, dst, id: process.pid & 0xffff, count, intervalMs: interval * 1000, pattern: pattern.toLowerCase() };
  recordFlows(env.stateDir, [flow]);
  const state = await loadState(env.stateDir, env.node, [flow], "delivery");
  const ok = flowCompletes(state, flow);
  await sleep((count - 1) * interval * 1000);
  process.stdout.write(`PING ${dst} (${dst}) 56(84) bytes of data.\n\n--- ${dst} ping statistics ---\n`);
  process.stdout.write(
    `${count} packets transmitted, ${ok ? count : 0} received, ${ok ? 0 : 100}% packet loss, time ${Math.round((count - 1) * interval * 1000)}ms\n`,
  );
  return ok ? 0 : 1;
}

async function wget(env: SimEnv, argv: readonly string[]): Promise<number> {
  const urls: string[] = [];
  let output = "";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-q") continue;
    else if (a === "-O") output = argv[++i] ?? "";
    else if (a === "-T") i++;
    else if (a.startsWith("-")) throw notSimulated("wget", `option ${a} not simulated`);
    else urls.push(a);
  }
  if (output !== "/dev/null") throw notSimulated("wget", "only `-O /dev/null` is simulated");
  if (urls.length === 0) throw new Exit(1, "BusyBox wget: no URL given\n");
  const own = podIPs(await readPod(env));
  const flows: Flow[] = [];
  for (const url of urls) {
    const m = /^http:\/\/(\[[0-9a-fA-F:]+\]|[0-9.]+)(?::(\d+))?(\/[^\s]*)?$/.exec(url);
    if (!m) throw notSimulated("wget", `only http://<address>[:port]/path URLs are simulated: ${url}`);
    const host = m[1]!.replace(/^\[|\]$/g, "");
    const src = sameFamily(own, host);
    if (!src) throw new Exit(1, `wget: can't connect to remote host (${host}): Network is unreachable\n`);
    const port = Number(m[2] ?? "80");
    flows.push({
      kind: "http",
      at: Date.now() + flows.length * 5,
      src,
      dst: host,
      sport: 32768 + Math.floor(Math.random() * 28232),
      dport: port,
      request: `GET ${m[3] ?? "/"} HTTP/1.1\r\nHost: ${m[1]}:${port}\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n`,
      response: "HTTP/1.1 200 OK\r\nContent-type: application/octet-stream\r\nContent-Length: 8\r\n\r\nsim-pod\n",
    });
  }
  recordFlows(env.stateDir, flows);
  const state = await loadState(env.stateDir, env.node, flows, "delivery");
  for (const f of flows) {
    if (!ownerOf(state, f.dst)) throw new Exit(1, `wget: can't connect to remote host (${f.dst}): Connection timed out\n`);
    if (!flowCompletes(state, f)) throw new Exit(1, "wget: download timed out\n");
  }
  return 0;
}

async function main(): Promise<number> {
  const [cmd, ...argv] = process.argv.slice(2);
  if (!cmd || !(COMMANDS as readonly string[]).includes(cmd)) throw new Exit(NOT_SIMULATED, `usage: cli.ts <${COMMANDS.join("|")}> ARGS...\n`);
  if (cmd === "timeout") return timeout(argv);
  const env = simEnv(process.env);
  if (typeof env === "string") throw notSimulated(cmd, env);
  switch (cmd as Command) {
    case "tcpdump":
      return tcpdump(env, argv);
    case "pkill":
      return pkill(env, argv);
    case "ip":
      return ip(env, argv);
    case "ping":
      return ping(env, argv);
    case "wget":
      return wget(env, argv);
    default:
      throw notSimulated(cmd, "unknown command");
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      if (e instanceof Exit) {
        process.stderr.write(e.stderr);
        process.exit(e.code);
      }
      process.stderr.write(`simulated ${process.argv[2] ?? ""}: ${(e as Error).message}\n`);
      process.exit(NOT_SIMULATED);
    },
  );
}
