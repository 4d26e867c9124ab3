/**
 * Values of an adopted release: everything its users set stays, the encryption values become ours.
 * Helm's user-supplied config (`helm get values`) is the base, not the chart defaults, so what the
 * chart would default stays defaulted.
 */
import { treeProblems } from "../config/valueTree";
import type { CiliumVersion } from "../encryption/ciliumVersion";
import { leafPaths, userValueProblems, type Values } from "../encryption/helmValues";

const isObject = (v: unknown): v is Values => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Release values come from whoever ran Helm (`helm --set __proto__.x=y` stores a key `__proto__`), so
 * keys are read and written as own data properties only: `o[k]` would reach Object.prototype through
 * such a key, and `o[k] = v` would replace an object's prototype instead of setting a value.
 */
const own = (o: Values, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);
const put = (o: Values, key: string, value: unknown) => Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });

function merge(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = own(out, k);
    put(out, k, isObject(b) && isObject(v) ? merge(b, v) : v);
  }
  return out;
}

function setPath(target: Values, path: string[], value: unknown): void {
  let at = target;
  for (const key of path.slice(0, -1)) {
    const next = own(at, key);
    if (isObject(next)) {
      at = next;
    } else {
      const fresh: Values = {};
      put(at, key, fresh);
      at = fresh;
    }
  }
  put(at, path[path.length - 1]!, value);
}

/** Rebuilds values from dotted leaf paths (keys with dots inside cannot be told apart and are kept whole). */
function fromLeaves(leaves: Array<[string[], unknown]>): Values {
  const out: Values = {};
  for (const [path, value] of leaves) setPath(out, path, value);
  return out;
}

/** One key on the way down, linked to the one above it: a path is built only for the leaves, in time proportional to its length. */
type Step = { key: string; up?: Step };

function pathOf(step: Step): string[] {
  const path: string[] = [];
  for (let at: Step | undefined = step; at !== undefined; at = at.up) path.push(at.key);
  return path.reverse();
}

/** Leaf paths as key arrays, so keys that contain dots survive; without recursion, as release values may nest arbitrarily deep. */
function leaves(values: Values): Array<[string[], unknown]> {
  const out: Array<[string[], unknown]> = [];
  const pending: Array<[Step, unknown]> = Object.entries(values)
    .reverse()
    .map(([key, v]) => [{ key }, v]);
  while (pending.length > 0) {
    const [step, v] = pending.pop()!;
    if (isObject(v) && Object.keys(v).length > 0) {
      for (const [key, child] of Object.entries(v).reverse()) pending.push([{ key, up: step }, child]);
    } else {
      out.push([pathOf(step), v]);
    }
  }
  return out;
}

const related = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);

export interface AdoptedValues {
  values: Values;
  /** Encryption leaves of the release the chart version or mode does not take, removed (path → why). */
  removed: Map<string, string>;
  /** Other values of the release that would defeat or break the encryption settings: adoption is refused. */
  problems: string[];
}

const HIDDEN = () => "(value not shown)";

/**
 * live ⊕ stack values ⊕ ours. A live encryption leaf that our values do not set and that the chart of
 * `version` would not take with our mode (another mode's option, an unknown key) is removed: kept, it
 * would contradict the mode we set. Nothing outside `encryption` is removed or shown.
 */
export function adoptedValues(version: CiliumVersion, live: Values, stack: Values, ours: Values): AdoptedValues {
  // A release whose values cannot pass through the program is refused before anything walks them recursively.
  const uncarried = treeProblems(live, { checkSize: false }).map(([path, why]) => `${path === "" ? "its values" : path}: ${why}`);
  if (uncarried.length > 0) return { values: merge(stack, ours), removed: new Map(), problems: uncarried };
  const ourPaths = [...leafPaths(ours).keys()];
  const removed = new Map<string, string>();
  const kept: Array<[string[], unknown]> = [];
  const others: Array<[string[], unknown]> = [];
  for (const [path, value] of leaves(live)) {
    const dotted = path.join(".");
    if (path[0] !== "encryption") {
      others.push([path, value]);
    } else if (!ourPaths.some((p) => related(p, dotted))) {
      const problems = userValueProblems(version, ours, fromLeaves([[path, value]]), HIDDEN);
      if (problems.length > 0) {
        removed.set(dotted, problems.join("; ").replace(/^[^:]*: /, ""));
        continue;
      }
    }
    kept.push([path, value]);
  }
  // Values outside encryption are never changed, so one that overrides or breaks it stops the adoption.
  const problems = userValueProblems(version, ours, fromLeaves(others), HIDDEN);
  return { values: merge(merge(fromLeaves(kept), stack), ours), removed, problems };
}

export type ValueChange = { path: string; before?: unknown; after?: unknown };

/** Leaf-level differences between two value trees, sorted by path. */
export function valueChanges(before: Values, after: Values): ValueChange[] {
  const a = new Map(leaves(before).map(([p, v]) => [p.join("."), v]));
  const b = new Map(leaves(after).map(([p, v]) => [p.join("."), v]));
  const changes: ValueChange[] = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const [x, y] = [a.get(path), b.get(path)];
    if (a.has(path) && b.has(path) && JSON.stringify(x) === JSON.stringify(y)) continue;
    changes.push({ path, ...(a.has(path) ? { before: x } : {}), ...(b.has(path) ? { after: y } : {}) });
  }
  return changes.sort((p, q) => (p.path < q.path ? -1 : 1));
}

/** Values this product owns and may print; anything else the release's users set could be a secret. */
const printable = (path: string) => path === "rollOutCiliumPods" || path.startsWith("encryption.");

/** One line per change, for the preview; values outside the encryption settings are not shown. */
export function describeChanges(changes: ValueChange[], removed: Map<string, string>): string[] {
  const show = (path: string, v: unknown) => (printable(path) ? JSON.stringify(v) : "(value not shown)");
  return changes.map((c) => {
    if (!("after" in c)) return `${c.path}: removed (was ${show(c.path, c.before)})${removed.has(c.path) ? `: ${removed.get(c.path)}` : ""}`;
    if (!("before" in c)) return `${c.path}: set to ${show(c.path, c.after)}`;
    return `${c.path}: ${show(c.path, c.before)} → ${show(c.path, c.after)}`;
  });
}
