/**
 * Runs index.ts under Pulumi mocks and records what it registers, including what only the monitor
 * sees (dependencies, protect, additionalSecretOutputs, secret-wrapped inputs).
 */
import { randomBytes } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { useClusterReader } from "../../adopt/cluster";
import { PROJECT } from "../../config/settings";

// Unit tests never reach a cluster: the program sees one without Cilium unless a test gives another.
useClusterReader(async () => ({ agents: [] }));

export interface Registered {
  type: string;
  name: string;
  urn: string;
  custom: boolean;
  inputs: Record<string, any>;
  /** Inputs as serialized for the engine: secrets still wrapped. */
  wire: Record<string, any>;
  dependencies: string[];
  protect: boolean;
  additionalSecretOutputs: string[];
}

export interface ProgramRun {
  resources: Registered[];
  outputs: Record<string, any>;
  one(type: string): Registered;
  all(type: string): Registered[];
}

export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const VERIFIER_REPORT = { verdict: "verified", mode: "ipsec", nodes: [] };

const SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Inputs with secret wrappers removed, for asserting on values; `wire` keeps the wrappers. */
function reveal(v: any): any {
  if (Array.isArray(v)) return v.map(reveal);
  if (v === null || typeof v !== "object") return v;
  if (v[SPECIAL_SIG_KEY] === SECRET_SIG) return reveal(v.value);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
}

type Program = () => Promise<Record<string, unknown>>;

/** Stack config object (key → value) as Pulumi hands it over: namespaced, objects as JSON. */
export function asPulumiConfig(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k.includes(":") ? k : `${PROJECT}:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
}

/**
 * Starts the program. `resources` fills as registrations arrive, so a test can see what a refused run
 * registered before it failed; `done` settles with the run or the program's error.
 */
export function startProgram(
  config: Record<string, string>,
  deployed: Record<string, unknown> = {},
  stack = "dev",
  secretKeys: string[] = [],
): { resources: Registered[]; done: Promise<ProgramRun> } {
  const resources: Registered[] = [];
  return { resources, done: run(resources, config, deployed, stack, secretKeys) };
}

/** `secretKeys`: full config keys marked secret, as `pulumi config set --secret` would. */
export function runProgram(
  config: Record<string, string>,
  deployed: Record<string, unknown> = {},
  stack = "dev",
  secretKeys: string[] = [],
): Promise<ProgramRun> {
  return startProgram(config, deployed, stack, secretKeys).done;
}

async function run(
  resources: Registered[],
  config: Record<string, string>,
  deployed: Record<string, unknown>,
  stack: string,
  secretKeys: string[],
): Promise<ProgramRun> {
  const pending = new Map<string, Partial<Registered>>();
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "pulumi:pulumi:StackReference") {
          Object.assign(state, { outputs: deployed, secretOutputNames: [] });
        } else if (args.type === "random:index/randomBytes:RandomBytes") {
          const hex = randomBytes(args.inputs.length).toString("hex");
          Object.assign(state, { hex, base64: Buffer.from(hex, "hex").toString("base64") });
        } else if (args.type === "kubernetes:helm.sh/v3:Release") {
          state.status = { name: args.inputs.name, namespace: args.inputs.namespace, revision: 1, status: "deployed", version: args.inputs.version };
        } else if (args.type === "command:local:Command") {
          Object.assign(state, { stdout: JSON.stringify(VERIFIER_REPORT), stderr: "" });
        }
        const extra = pending.get(args.name) ?? {};
        resources.push({
          type: args.type,
          name: args.name,
          urn: "",
          custom: args.custom ?? true,
          inputs: reveal(args.inputs),
          wire: {},
          dependencies: [],
          protect: false,
          additionalSecretOutputs: [],
          ...extra,
        });
        return { id: args.custom === false ? undefined : `${args.name}_id`, state };
      },
      call: () => ({}),
    },
    PROJECT,
    stack,
    false,
    "organization",
  );
  // The mock callbacks do not see resource options; capture them where the request passes by.
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, cb: any) => {
    pending.set(req.getName(), {
      urn: `${req.getType()}::${req.getName()}`,
      wire: req.getObject()?.toJavaScript() ?? {},
      dependencies: req.getDependenciesList(),
      protect: req.getProtect?.() ?? false,
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    });
    return register(req, cb);
  };
  pulumi.runtime.setAllConfig(config, secretKeys);

  // Node caches the module; the program is its exported function, so each call is a fresh run.
  const program = require("../../index") as Program;
  const returned = await program();
  const outputs = await new Promise<Record<string, any>>((resolve) => pulumi.output(returned).apply((v) => resolve(v as Record<string, any>)));
  const all = (type: string) => resources.filter((r) => r.type === type);
  return {
    resources,
    outputs,
    all,
    one(type) {
      const found = all(type);
      if (found.length !== 1) throw new Error(`expected exactly one ${type}, registered ${found.length}`);
      return found[0]!;
    },
  };
}
