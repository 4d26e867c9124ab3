/**
 * What a tree of Helm values must be for the program to carry it: depth, prototype keys and size,
 * found without recursion whatever `JSON.parse` produced.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MAX_VALUES_BYTES, MAX_VALUES_DEPTH, renderPath, treeFacts, treeProblems } from "../../config/valueTree";

/** `levels` nested objects, the outermost being level 1. */
function nest(levels: number, leaf: unknown = 1): Record<string, unknown> {
  let node: Record<string, unknown> = { x: leaf };
  for (let i = 1; i < levels; i++) node = { a: node };
  return node;
}
/** The same as JSON text, for depths JSON.stringify cannot reach. */
const nestText = (levels: number) => `${'{"a":'.repeat(levels - 1)}{"x":1}${"}".repeat(levels - 1)}`;

/** Containers nested in a tree, the tree itself being level 1 (recursive: for the small trees the property test makes). */
const depthOf = (v: unknown): number => (typeof v === "object" && v !== null ? 1 + Math.max(0, ...(Array.isArray(v) ? v : Object.values(v)).map(depthOf)) : 0);

const tree = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: "small", maxDepth: 6 },
    fc.integer(),
    fc.string(),
    fc.array(tie("node"), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom("a", "b", "__proto__", "constructor", "prototype"), tie("node"), { maxKeys: 3 }),
  ),
})).node;

describe("value trees the program can carry", () => {
  it("accepts exactly MAX_VALUES_DEPTH levels and refuses one more, naming where", () => {
    assert.deepEqual(treeProblems(nest(MAX_VALUES_DEPTH), { checkSize: true }), []);
    const [[path, message]] = treeProblems(nest(MAX_VALUES_DEPTH + 1), { checkSize: true }) as [[string, string]];
    assert.equal(path, "a.a.a.a.a.a…");
    assert.match(message, /^nests more than 100 levels deep; allowed: at most 100 \(Cilium's chart values nest 10/);
    assert.equal(treeFacts([[[[1]]]]).tooDeep, undefined);
  });

  it("walks trees far deeper than the stack allows without overflowing", () => {
    const deep = JSON.parse(nestText(200_000));
    assert.throws(() => JSON.stringify(deep), RangeError, "the input is deep enough to overflow recursion");
    assert.equal(treeFacts(deep).tooDeep?.length, MAX_VALUES_DEPTH);
    const deepArrays = JSON.parse(`${"[".repeat(200_000)}${"]".repeat(200_000)}`);
    assert.equal(renderPath(treeFacts(deepArrays).tooDeep!.slice(0, 3)), "[0][0][0]");
  });

  it("finds every key named __proto__ that JSON.parse made an own property, at any depth and inside arrays", () => {
    const values = JSON.parse('{"__proto__":{"polluted":1},"hubble":{"tls":{"__proto__":{}}},"extraEnv":[{"name":"A"},{"__proto__":{"x":1}}]}');
    assert.deepEqual(treeFacts(values).prototypeKeys.map(renderPath), ["__proto__", "hubble.tls.__proto__", "extraEnv[1].__proto__"]);
    const problems = treeProblems(values, { checkSize: true });
    assert.deepEqual(
      problems.map(([p]) => p),
      ["__proto__", "hubble.tls.__proto__", "extraEnv[1].__proto__"],
    );
    assert.match(problems[0]![1], /^a key named "__proto__" cannot be carried: .* no Cilium chart value has this name; remove it$/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("takes constructor and prototype as plain keys", () => {
    assert.deepEqual(treeProblems({ constructor: { prototype: { polluted: 1 } }, prototype: {} }, { checkSize: true }), []);
  });

  it("agrees with a recursive count of depth and keys on small trees (property)", () => {
    fc.assert(
      fc.property(tree, (t) => {
        const facts = treeFacts(t);
        assert.equal(facts.tooDeep === undefined, depthOf(t) <= MAX_VALUES_DEPTH);
        const count = (v: unknown): number =>
          typeof v === "object" && v !== null
            ? (Array.isArray(v) ? 0 : Object.keys(v).filter((k) => k === "__proto__").length) +
              (Array.isArray(v) ? v : Object.values(v)).map(count).reduce((a, b) => a + b, 0)
            : 0;
        assert.equal(facts.prototypeKeys.length, count(t));
      }),
    );
  });

  it("accepts values of exactly MAX_VALUES_BYTES as JSON and refuses one byte more, only when asked to", () => {
    const sized = (bytes: number) => ({ pad: "x".repeat(bytes - '{"pad":""}'.length) });
    assert.equal(JSON.stringify(sized(MAX_VALUES_BYTES)).length, MAX_VALUES_BYTES);
    assert.deepEqual(treeProblems(sized(MAX_VALUES_BYTES), { checkSize: true }), []);
    assert.deepEqual(treeProblems(sized(MAX_VALUES_BYTES + 1), { checkSize: true }), [
      [
        "",
        "are 131073 bytes as JSON; allowed: at most 131072 (128 KiB): Helm keeps the release, its chart, these values and the manifests rendered from " +
          "them in one Secret, which Kubernetes limits to 1 MiB, and Cilium's chart alone takes about half of that",
      ],
    ]);
    assert.deepEqual(treeProblems(sized(MAX_VALUES_BYTES + 1), { checkSize: false }), []);
    // Bytes, not characters: two-byte characters count twice.
    assert.equal(treeProblems({ pad: "é".repeat(MAX_VALUES_BYTES / 2) }, { checkSize: true }).length, 1);
  });
});
