// Kubernetes label selectors in their string form, as k8s.io/apimachinery labels.Parse reads
// node-encryption-opt-out-labels (pkg/wireguard/agent/agent.go, k8sLabels.Parse).

type Requirement =
  | { op: "exists" | "!"; key: string }
  | { op: "in" | "notin"; key: string; values: string[] }
  | { op: "gt" | "lt"; key: string; value: number };

/** Requirements of a selector string; undefined when labels.Parse would fail. */
export function parseSelector(s: string): Requirement[] | undefined {
  const reqs: Requirement[] = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  if (s.trim() === "") return [];
  for (const raw of parts) {
    const r = requirement(raw.trim());
    if (r === undefined) return undefined;
    reqs.push(r);
  }
  return reqs;
}

function requirement(p: string): Requirement | undefined {
  const not = /^!\s*([\w./-]+)$/.exec(p);
  if (not) return { op: "!", key: not[1]! };
  const eq = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(p);
  if (eq) return { op: eq[2] === "!=" ? "notin" : "in", key: eq[1]!, values: [eq[3]!] };
  const set = /^([\w./-]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(p);
  if (set) return { op: set[2] as "in" | "notin", key: set[1]!, values: set[3]!.split(",").map((v) => v.trim()) };
  const cmp = /^([\w./-]+)\s*([<>])\s*(-?\d+)$/.exec(p);
  if (cmp) return { op: cmp[2] === ">" ? "gt" : "lt", key: cmp[1]!, value: Number(cmp[3]) };
  const exists = /^([\w./-]+)$/.exec(p);
  return exists ? { op: "exists", key: exists[1]! } : undefined;
}

export function matches(reqs: Requirement[], labels: Record<string, string>): boolean {
  return reqs.every((r) => {
    const v = labels[r.key];
    switch (r.op) {
      case "exists":
        return v !== undefined;
      case "!":
        return v === undefined;
      case "in":
        return v !== undefined && r.values.includes(v);
      case "notin":
        return v === undefined || !r.values.includes(v);
      default: {
        const n = v === undefined ? NaN : Number(v);
        if (!Number.isInteger(n)) return false;
        return r.op === "gt" ? n > r.value : n < r.value;
      }
    }
  });
}
