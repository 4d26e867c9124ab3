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
    const p = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^!\s*([\w./-]+)$/.exec(p))) reqs.push({ op: "!", key: m[1]! });
    else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(p))) {
      reqs.push({ op: m[2] === "!=" ? "notin" : "in", key: m[1]!, values: [m[3]!] });
    } else if ((m = /^([\w./-]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(p))) {
      reqs.push({ op: m[2] as "in" | "notin", key: m[1]!, values: m[3]!.split(",").map((v) => v.trim()) });
    } else if ((m = /^([\w./-]+)\s*([<>])\s*(-?\d+)$/.exec(p))) {
      reqs.push({ op: m[2] === ">" ? "gt" : "lt", key: m[1]!, value: Number(m[3]) });
    } else if ((m = /^([\w./-]+)$/.exec(p))) reqs.push({ op: "exists", key: m[1]! });
    else return undefined;
  }
  return reqs;
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
      case "gt":
      case "lt": {
        const n = v === undefined ? NaN : Number(v);
        if (!Number.isInteger(n)) return false;
        return r.op === "gt" ? n > r.value : n < r.value;
      }
    }
  });
}
