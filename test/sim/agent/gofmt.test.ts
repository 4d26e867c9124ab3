import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { marshalIndent, padRight, tabwrite } from "./gofmt";

// Expected strings were printed by Go 1.25's text/tabwriter and encoding/json for the same input.
test("tabwrite aligns like text/tabwriter (minwidth 2, padding 3)", () => {
  const cases: [string, string][] = [
    [
      "NodeMonitor:\tDisabled\nProxy Status:\tNo managed proxy redirect\nGlobal Identity Range:\tUnknown\nEncryption:\tWireguard\t[NodeEncryption: Disabled, cilium_wg0 (Pubkey: abc=, Port: 51871, Peers: 2)]\nCluster health:\t\tProbe disabled\n",
      "NodeMonitor:             Disabled\nProxy Status:            No managed proxy redirect\nGlobal Identity Range:   Unknown\nEncryption:              Wireguard   [NodeEncryption: Disabled, cilium_wg0 (Pubkey: abc=, Port: 51871, Peers: 2)]\nCluster health:                      Probe disabled\n",
    ],
    [
      "NodeMonitor:\tDisabled\nProxy Status:\tNo managed proxy redirect\nGlobal Identity Range:\tUnknown\nEncryption:\tIPsec\t\nCluster health:\tProbe disabled\n",
      "NodeMonitor:             Disabled\nProxy Status:            No managed proxy redirect\nGlobal Identity Range:   Unknown\nEncryption:              IPsec   \nCluster health:          Probe disabled\n",
    ],
    ["a\tb\tc\nlonger cell\tx\nno tabs here\nq\tw\n", "a             b   c\nlonger cell   x\nno tabs here\nq   w\n"],
    ["x\ty", "x   y"],
  ];
  for (const [input, want] of cases) assert.equal(tabwrite(input, 2, 3), want);
});

test("tabwrite never changes text without tabs", () => {
  fc.assert(
    fc.property(fc.array(fc.string().filter((s) => !/[\t\n]/.test(s))), (lines) => {
      const text = lines.map((l) => `${l}\n`).join("");
      assert.equal(tabwrite(text, 2, 3), text);
    }),
  );
});

test("tabwrite pads every cell of a column to the same width", () => {
  const cell = fc.string({ maxLength: 12 }).filter((s) => !/[\t\n]/.test(s));
  fc.assert(
    fc.property(fc.array(fc.tuple(cell, cell), { minLength: 1 }), (rows) => {
      const out = tabwrite(rows.map(([a, b]) => `${a}\t${b}\n`).join(""), 2, 3)
        .split("\n")
        .slice(0, -1);
      const width = Math.max(2, ...rows.map(([a]) => [...a].length + 3));
      for (const [i, line] of out.entries()) assert.equal(line, padRight(rows[i]![0], width) + rows[i]![1]);
    }),
  );
});

test("marshalIndent matches encoding/json MarshalIndent", () => {
  const v = { a: {}, b: [], c: "<&>\u2028", d: null, e: [{ y: 2, z: 1 }] };
  assert.equal(
    marshalIndent(v),
    '{\n  "a": {},\n  "b": [],\n  "c": "\\u003c\\u0026\\u003e\\u2028",\n  "d": null,\n  "e": [\n    {\n      "y": 2,\n      "z": 1\n    }\n  ]\n}',
  );
});

test("marshalIndent output parses back to the same value", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      assert.deepEqual(JSON.parse(marshalIndent(v as never)), JSON.parse(JSON.stringify(v)));
    }),
  );
});
