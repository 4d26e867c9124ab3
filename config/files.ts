/**
 * What config checks need from outside the config itself: which keys the user marked secret, and the
 * files that paths point at (kubeconfig, local chart). Behind an interface so that tests can give a
 * fake one; `hostEnv` is the real machine.
 */
import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { parse, parseDocument } from "yaml";

export interface SettingsEnv {
  /** Full config keys (`<project>:<key>`) the user set with `--secret`. */
  secretKeys: ReadonlySet<string>;
  /** Relative paths resolve against this (Pulumi runs the program in the project directory). */
  cwd: string;
  home: string;
  kind(path: string): "file" | "dir" | "missing" | "other";
  read(path: string): Buffer;
}

export function hostEnv(secretKeys: Iterable<string> = []): SettingsEnv {
  return {
    secretKeys: new Set(secretKeys),
    cwd: process.cwd(),
    home: homedir(),
    kind(path) {
      try {
        const s = statSync(path);
        return s.isFile() ? "file" : s.isDirectory() ? "dir" : "other";
      } catch {
        return "missing";
      }
    },
    read: (path) => readFileSync(path),
  };
}

/** `~/x` as kubectl and Helm users write it; everything else relative to the project. */
export function resolvePath(where: { home: string; cwd: string }, path: string): string {
  if (path === "~" || path.startsWith("~/")) return join(where.home, path.slice(1));
  return isAbsolute(path) ? path : resolve(where.cwd, path);
}

export interface ChartMeta {
  name: unknown;
  version: unknown;
}

/** Finds `<dir>/Chart.yaml` in a `helm package` archive (gzip'd ustar, the chart in one top directory). */
function chartYamlFromTgz(archive: Buffer): Buffer | undefined {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive);
  } catch {
    return undefined;
  }
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) return undefined;
    const field = (from: number, to: number) => header.subarray(from, to).toString("utf8").replace(/\0.*$/s, "");
    const prefix = field(345, 500);
    const name = prefix === "" ? field(0, 100) : `${prefix}/${field(0, 100)}`;
    const size = parseInt(field(124, 136).trim() || "0", 8);
    if (!Number.isFinite(size)) return undefined;
    const typeflag = field(156, 157);
    if ((typeflag === "0" || typeflag === "") && /^[^/]+\/Chart\.yaml$/.test(name)) return tar.subarray(at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

/**
 * The name and version a local chart declares, from a chart directory or a packaged `.tgz`; a
 * string says why the path is not a chart.
 */
export function readLocalChart(env: SettingsEnv, path: string): ChartMeta | string {
  const full = resolvePath(env, path);
  const kind = env.kind(full);
  let chartYaml: Buffer | undefined;
  if (kind === "missing") return "does not exist";
  if (kind === "dir") {
    if (env.kind(join(full, "Chart.yaml")) !== "file") return "is a directory without a Chart.yaml, so not a Helm chart";
    chartYaml = env.read(join(full, "Chart.yaml"));
  } else if (kind === "file") {
    chartYaml = chartYamlFromTgz(env.read(full));
    if (chartYaml === undefined) return "is a file but not a packaged Helm chart (a .tgz with <name>/Chart.yaml)";
  } else {
    return "is neither a chart directory nor a packaged chart";
  }
  let doc: unknown;
  try {
    doc = parse(chartYaml.toString("utf8"));
  } catch {
    return "has a Chart.yaml that is not valid YAML";
  }
  if (typeof doc !== "object" || doc === null) return "has an empty Chart.yaml";
  const { name, version } = doc as Record<string, unknown>;
  return { name, version };
}

/** The top-level keys of a kubeconfig (k8s.io/client-go v0.33.13 tools/clientcmd/api/v1/types.go Config). */
export const KUBECONFIG_KEYS = ["apiVersion", "kind", "preferences", "clusters", "users", "contexts", "current-context", "extensions"];
const KUBECONFIG_LISTS = ["clusters", "users", "contexts", "extensions"];

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Why text given as a kubeconfig's contents is not one, or undefined when it reads as one: a single
 * YAML or JSON mapping with kubeconfig keys, of the types kubectl decodes them into, naming a cluster.
 * Never quotes the text (it holds credentials), at most a line and column.
 */
export function kubeconfigContentsProblem(text: string): string | undefined {
  let doc: unknown;
  try {
    // A document rather than `parse`, which prints warnings that quote the text, and with warnings off ignores errors.
    const parsed = parseDocument(text);
    const error = parsed.errors[0];
    if (error !== undefined) {
      const at = error.linePos?.[0];
      return `is not valid YAML or JSON${at === undefined ? "" : ` (line ${at.line}, column ${at.col})`}`;
    }
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch {
    return "is not valid YAML or JSON";
  }
  if (!isMapping(doc)) return "is not a YAML or JSON mapping";
  if (!KUBECONFIG_KEYS.some((k) => Object.hasOwn(doc, k))) return `has none of a kubeconfig's keys (${KUBECONFIG_KEYS.join(", ")})`;
  if (doc.apiVersion != null && doc.apiVersion !== "v1") return "has an apiVersion other than v1, the only kubeconfig version";
  if (doc.kind != null && doc.kind !== "Config") return "has a kind other than Config";
  for (const key of KUBECONFIG_LISTS) {
    const list = doc[key];
    if (list != null && !(Array.isArray(list) && list.every(isMapping))) return `has ${key} that is not a list of mappings`;
  }
  if (doc["current-context"] != null && typeof doc["current-context"] !== "string") return "has a current-context that is not a string";
  // Inline contents are the whole connection (the provider and kubectl read nothing else), and without a cluster there is no server.
  if (!Array.isArray(doc.clusters) || doc.clusters.length === 0) return "has no clusters, so nothing to connect to";
  return undefined;
}
