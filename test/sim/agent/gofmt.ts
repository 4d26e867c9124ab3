// Go's output primitives that cilium-dbg's outputs go through: encoding/json MarshalIndent,
// text/tabwriter (left-aligned, space padding, no flags) and fmt's %-Ns / %-Nd padding.

/** A JSON value whose object keys are already in Go's struct-field (or sorted map) order. */
export type GoJson = null | boolean | number | string | GoJson[] | { [k: string]: GoJson };

// encoding/json escapes <, > and & (HTMLEscape on by default) and U+2028/U+2029.
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** json.MarshalIndent(v, "", "  "). */
export function marshalIndent(v: GoJson, indent = ""): string {
  if (v === null) return "null";
  if (typeof v === "string") return goString(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return `[\n${v.map((x) => inner + marshalIndent(x, inner)).join(",\n")}\n${indent}]`;
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return "{}";
  return `{\n${keys.map((k) => `${inner}${goString(k)}: ${marshalIndent(v[k]!, inner)}`).join(",\n")}\n${indent}}`;
}

/** fmt's %-<n>v: left-justified, padded with spaces to n runes. */
export const padRight = (v: string | number, n: number): string => {
  const s = String(v);
  const len = [...s].length;
  return len >= n ? s : s + " ".repeat(n - len);
};

/**
 * text/tabwriter.NewWriter(w, minwidth, tabwidth, padding, ' ', 0) fed `text` and flushed.
 * Cells end at '\t'; the text after a line's last tab is not aligned; a line without tabs
 * flushes, so alignment blocks never span it.
 */
export function tabwrite(text: string, minwidth: number, padding: number): string {
  let out = "";
  let pending: string[][] = [];
  const lines = text.split("\n");
  const endsWithNewline = text.endsWith("\n");
  if (endsWithNewline) lines.pop();
  const width = (s: string): number => [...s].length;

  const flush = (lastHasNewline: boolean): void => {
    const widths: number[] = [];
    const writeLines = (line0: number, line1: number): void => {
      for (let i = line0; i < line1; i++) {
        const cells = pending[i]!;
        cells.forEach((c, j) => {
          out += c;
          if (j < widths.length) out += " ".repeat(Math.max(0, widths[j]! - width(c)));
        });
        if (i + 1 < pending.length || lastHasNewline) out += "\n";
      }
    };
    const format = (l0: number, l1: number): void => {
      let line0 = l0;
      const column = widths.length;
      for (let cur = line0; cur < l1; cur++) {
        if (column >= pending[cur]!.length - 1) continue;
        writeLines(line0, cur);
        line0 = cur;
        let w = minwidth;
        for (; cur < l1; cur++) {
          const cells = pending[cur]!;
          if (column >= cells.length - 1) break;
          w = Math.max(w, width(cells[column]!) + padding);
        }
        widths.push(w);
        format(line0, cur);
        widths.pop();
        line0 = cur;
        cur--;
      }
      writeLines(line0, l1);
    };
    format(0, pending.length);
    pending = [];
  };

  lines.forEach((line, i) => {
    const cells = line.split("\t");
    pending.push(cells);
    const last = i === lines.length - 1;
    if (cells.length === 1 && !(last && !endsWithNewline)) flush(true);
  });
  if (pending.length > 0) flush(endsWithNewline);
  return out;
}
