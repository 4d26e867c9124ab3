/**
 * What a tree of Helm values must be for this program, the Pulumi SDK and Helm to carry it: not
 * nested deeper than the code that walks it can recurse, no key that JavaScript takes as an object's
 * prototype, and (for values the stack sets) small enough for Helm's release record. Walked without
 * recursion, so that the check itself survives any input `JSON.parse` accepts.
 */

/**
 * Cilium's own chart values nest 10 levels (cilium v1.16.19 to v1.20.2 install/kubernetes/cilium/
 * values.yaml); the Pulumi SDK serializes resource inputs recursively and overflowed its stack with
 * values 1,000 levels deep under the program's tests (600 passed), and so does `JSON.stringify`.
 */
export const MAX_VALUES_DEPTH = 100;

/**
 * Helm stores a release (its chart, the values, and the manifests rendered from them) as
 * base64(gzip(JSON)) in one Secret (helm v3.18.6 pkg/storage/driver/util.go encodeRelease), and
 * Kubernetes refuses Secret data over 1 MiB (k8s.io/kubernetes v1.33.13 pkg/apis/core/types.go
 * MaxSecretSize). Cilium 1.20.2's chart alone takes about 550 KiB of that, and values can be stored
 * twice (as values and rendered), so 128 KiB of values fits even when they do not compress. Cilium's
 * whole default values.yaml is 33 KiB as JSON.
 */
export const MAX_VALUES_BYTES = 128 * 1024;

/**
 * The key that assignment (`o[k] = v`) and the Pulumi SDK's serializer take as the object's
 * prototype instead of a property, so a value under it is dropped or, merged, reaches other objects.
 * No Cilium chart value has this name. `constructor` and `prototype` are plain data to every
 * assignment here and are carried as such.
 */
export const PROTOTYPE_KEY = "__proto__";

export type TreePath = Array<string | number>;

/** `a.b[0].c`, as the other value messages print paths. */
export function renderPath(path: TreePath): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

export interface TreeFacts {
  /** Paths of keys named `__proto__`, in the order met. */
  prototypeKeys: TreePath[];
  /** The first path found that reaches deeper than MAX_VALUES_DEPTH levels (the tree itself is level 1). */
  tooDeep?: TreePath;
}

const isContainer = (v: unknown): v is object => typeof v === "object" && v !== null;

/** Facts about a tree of JSON-like values, found without recursion and without descending past the depth limit. */
export function treeFacts(root: unknown): TreeFacts {
  const facts: TreeFacts = { prototypeKeys: [] };
  const pending: Array<{ node: object; path: TreePath }> = isContainer(root) ? [{ node: root, path: [] }] : [];
  while (pending.length > 0) {
    const { node, path } = pending.pop()!;
    if (path.length >= MAX_VALUES_DEPTH) {
      facts.tooDeep ??= path;
      continue;
    }
    const entries: Array<[string | number, unknown]> = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
    for (const [key] of entries) if (key === PROTOTYPE_KEY) facts.prototypeKeys.push([...path, key]);
    // Reversed, so that the stack pops them in document order.
    for (const [key, child] of entries.reverse()) if (isContainer(child)) pending.push({ node: child, path: [...path, key] });
  }
  return facts;
}

const SHOWN_SEGMENTS = 6;

/** Why a tree cannot be carried, as [path relative to the tree, message] pairs; empty when it can. */
export function treeProblems(root: unknown, opts: { checkSize: boolean }): Array<[string, string]> {
  const facts = treeFacts(root);
  const problems: Array<[string, string]> = facts.prototypeKeys.map((path) => [
    renderPath(path),
    `a key named "${PROTOTYPE_KEY}" cannot be carried: JavaScript, and with it the Pulumi SDK that hands values to Helm, takes it as an ` +
      "object's prototype instead of a value (dropped, or merged into other objects), and no Cilium chart value has this name; remove it",
  ]);
  if (facts.tooDeep !== undefined) {
    const shown = facts.tooDeep.slice(0, SHOWN_SEGMENTS);
    problems.push([
      `${renderPath(shown)}${facts.tooDeep.length > SHOWN_SEGMENTS ? "…" : ""}`,
      `nests more than ${MAX_VALUES_DEPTH} levels deep; allowed: at most ${MAX_VALUES_DEPTH} (Cilium's chart values nest 10, and the Pulumi SDK ` +
        "overflows its stack on values about 1,000 levels deep)",
    ]);
  } else if (opts.checkSize) {
    const bytes = Buffer.byteLength(JSON.stringify(root) ?? "");
    if (bytes > MAX_VALUES_BYTES) {
      problems.push([
        "",
        `are ${bytes} bytes as JSON; allowed: at most ${MAX_VALUES_BYTES} (128 KiB): Helm keeps the release, its chart, these values and the ` +
          "manifests rendered from them in one Secret, which Kubernetes limits to 1 MiB, and Cilium's chart alone takes about half of that",
      ]);
    }
  }
  return problems;
}
