/**
 * The drift report: the refresh's recorded and refreshed outputs compared field by field, so a change
 * the engine's own diff does not name (a label, an annotation, a field the program does not set) is
 * found; every field of the key Secret and of the random bytes masked whatever the event carries.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import fc from "fast-check";
import { CHANGED_OUTSIDE, type DriftReport, diffValues, driftFromEvents, formatReport, getPath, mergeDrift, parsePath } from "../../drift/report";

const SECRET_TYPE = "kubernetes:core/v1:Secret";
const BYTES_TYPE = "random:index/randomBytes:RandomBytes";
const RELEASE_TYPE = "kubernetes:helm.sh/v3:Release";
const URN = (type: string, name: string) => `urn:pulumi:dev::cilium-encryption::cilium-encryption:index:IpsecKey$${type}::${name}`;
/** A value no report may contain: stands for the PSK wherever an event might carry it. */
const PSK = "0123456789abcdef0123456789abcdef01234567";
const KEY_LINE = `1+ rfc4106(gcm(aes)) ${PSK} 128`;
/** How the engine serializes a secret it masked (sdk/go/common/resource/sig). */
const SECRET = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "[secret]" };

function secretOutputs(extra: { labels?: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[]; resourceVersion?: string } = {}) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    data: SECRET,
    stringData: SECRET,
    metadata: {
      name: "cilium-ipsec-keys",
      namespace: "kube-system",
      uid: "4a1e",
      resourceVersion: extra.resourceVersion ?? "100",
      managedFields: [{ manager: "pulumi-kubernetes", operation: "Apply" }],
      labels: { "app.kubernetes.io/managed-by": "cilium-encryption", ...extra.labels },
      annotations: { "cilium-encryption/key-id": "1", ...extra.annotations },
      ...(extra.finalizers ? { finalizers: extra.finalizers } : {}),
    },
  };
}

/** A resource outputs event of a refresh preview: recorded state (old) and refreshed state (new). */
function refreshed(
  type: string,
  name: string,
  op: string,
  old: unknown,
  now: unknown,
  detailedDiff?: Record<string, { kind: string; inputDiff: boolean }>,
): EngineEvent {
  const urn = URN(type, name);
  return {
    sequence: 1,
    timestamp: 0,
    resOutputsEvent: {
      metadata: {
        op,
        urn,
        type,
        provider: "",
        old: { type, urn, inputs: {}, outputs: old } as never,
        new: { type, urn, inputs: {}, outputs: now } as never,
        ...(detailedDiff ? { detailedDiff } : {}),
      } as never,
    },
  } as EngineEvent;
}

/** The same event for a resource the program only reads (`.get()`): the engine marks it external. */
function external(e: EngineEvent): EngineEvent {
  (e.resOutputsEvent!.metadata.old as { external?: boolean }).external = true;
  return e;
}

function preview(
  type: string,
  name: string,
  op: string,
  detailedDiff: Record<string, { kind: string; inputDiff: boolean }>,
  oldInputs: unknown,
  newInputs: unknown,
): EngineEvent {
  const urn = URN(type, name);
  return {
    sequence: 1,
    timestamp: 0,
    resourcePreEvent: {
      metadata: {
        op,
        urn,
        type,
        provider: "",
        detailedDiff,
        old: { type, urn, inputs: oldInputs, outputs: {} },
        new: { type, urn, inputs: newInputs, outputs: {} },
      } as never,
    },
  } as EngineEvent;
}

const reportText = (drifted: ReturnType<typeof driftFromEvents>) => JSON.stringify(drifted) + formatReport({ stack: "dev", drifted });

describe("diffValues", () => {
  /** Any JSON, with keys that need quoting in a property path and keys the prototype already has. */
  const key = fc.oneof(fc.string(), fc.constantFrom("a.b", 'q"uote', "[0]", "toString", "constructor", "0", "back\\slash"));
  const json = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: "small" }, fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)), tie("array"), tie("object")),
    array: fc.array(tie("value"), { maxLength: 4 }),
    object: fc.dictionary(
      key.filter((k) => k !== "__proto__"),
      tie("value"),
      { maxKeys: 5, noNullPrototype: true },
    ),
  })).object;

  /** Replays a list of changes onto a copy of `from`. */
  function apply(from: unknown, changes: ReturnType<typeof diffValues>): unknown {
    let root = structuredClone(from);
    // Arrays only lose elements at their end, listed in ascending order: remove the highest index first.
    const deletes = changes.filter((c) => c.kind === "delete").reverse();
    for (const c of [...changes.filter((c) => c.kind !== "delete"), ...deletes]) {
      const parts = parsePath(c.path);
      if (parts.length === 0) {
        root = structuredClone(c.after);
        continue;
      }
      let target = root as Record<string | number, unknown>;
      for (const p of parts.slice(0, -1)) target = target[p] as Record<string | number, unknown>;
      const last = parts.at(-1)!;
      if (c.kind !== "delete") target[last] = structuredClone(c.after);
      else if (Array.isArray(target)) target.splice(Number(last), 1);
      else delete target[last];
    }
    return root;
  }

  it("finds nothing between equal values and something between different ones", () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        assert.deepEqual(diffValues(a, structuredClone(a)), []);
        assert.equal(diffValues(a, b).length === 0, isDeepEqual(a, b));
      }),
    );
  });

  it("names paths that lead to the old and new values, and replaying them turns old into new", () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        const changes = diffValues(a, b);
        for (const c of changes) {
          if (c.kind !== "add") assert.deepEqual(getPath(a, c.path), c.before, c.path);
          if (c.kind !== "delete") assert.deepEqual(getPath(b, c.path), c.after, c.path);
        }
        assert.deepEqual(apply(a, changes), b);
      }),
    );
  });

  it("writes paths in the engine's notation", () => {
    assert.deepEqual(
      diffValues({ metadata: { labels: { a: "1" } }, spec: [1, 2] }, { metadata: { labels: { a: "1", "example.com/x": "y" } }, spec: [1] }).map((c) => [
        c.path,
        c.kind,
      ]),
      [
        ['metadata.labels["example.com/x"]', "add"],
        ["spec[1]", "delete"],
      ],
    );
  });
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

describe("drift from a refresh", () => {
  it("a label added out of band: the Secret reported, the path named, the value masked", () => {
    const events = [
      refreshed(
        SECRET_TYPE,
        "ipsec-key-secret",
        "same",
        secretOutputs(),
        secretOutputs({ labels: { "example.com/owner": "mallory" }, resourceVersion: "101" }),
      ),
    ];
    const drifted = driftFromEvents(events, "refresh");
    assert.deepEqual(drifted, [
      {
        type: SECRET_TYPE,
        name: "ipsec-key-secret",
        op: CHANGED_OUTSIDE,
        fields: [{ path: 'metadata.labels["example.com/owner"]', kind: "add", secret: true }],
      },
    ]);
    assert.ok(!reportText(drifted).includes("mallory"));
  });

  it("an annotation, a finalizer and the last-applied configuration holding the key: every field masked", () => {
    const lastApplied = JSON.stringify({ apiVersion: "v1", kind: "Secret", stringData: { keys: KEY_LINE } });
    const now = secretOutputs({
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": lastApplied, note: "hi" },
      finalizers: ["example.com/hold"],
    });
    const drifted = driftFromEvents([refreshed(SECRET_TYPE, "ipsec-key-secret", "same", secretOutputs(), now)], "refresh");
    assert.deepEqual(
      drifted[0]!.fields.map((f) => [f.path, f.secret]),
      [
        ["metadata.annotations.note", true],
        ['metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]', true],
        ["metadata.finalizers", true],
      ],
    );
    const text = reportText(drifted);
    assert.ok(!text.includes(PSK) && !text.includes("hi") && !text.includes("example.com/hold"), text);
  });

  it("the random bytes: every field masked, even one an event carries in the clear", () => {
    const drifted = driftFromEvents(
      [refreshed(BYTES_TYPE, "ipsec-key-psk", "update", { hex: SECRET, length: 20 }, { hex: PSK, length: 21 }, { hex: { kind: "update", inputDiff: false } })],
      "refresh",
    );
    assert.deepEqual(
      drifted[0]!.fields.map((f) => [f.path, f.secret, "before" in f, "after" in f]),
      [
        ["hex", true, false, false],
        ["length", true, false, false],
      ],
    );
    assert.ok(!reportText(drifted).includes(PSK));
  });

  it("a resource of another type shows old → new, and a secret value in it stays masked", () => {
    const old = { status: { revision: 1 }, values: { encryption: { enabled: true } }, token: SECRET };
    const now = { status: { revision: 2 }, values: { encryption: { enabled: false } }, token: { ...SECRET } };
    const drifted = driftFromEvents([refreshed(RELEASE_TYPE, "cilium", "same", old, now)], "refresh");
    assert.deepEqual(drifted[0]!.fields, [
      { path: "status.revision", kind: "update", secret: false, before: 1, after: 2 },
      { path: "values.encryption.enabled", kind: "update", secret: false, before: true, after: false },
    ]);
    assert.match(formatReport({ stack: "dev", drifted }), /values\.encryption\.enabled: true → false/);
    const masked = driftFromEvents([refreshed(RELEASE_TYPE, "cilium", "same", { a: "x" }, { a: { ...SECRET } })], "refresh");
    assert.deepEqual(masked[0]!.fields, [{ path: "a", kind: "update", secret: true }]);
  });

  it("a Helm release's values changed out of band: paths named, values masked, but the encryption values this program sets", () => {
    const KEY = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t";
    const old = {
      chart: "cilium",
      repositoryOpts: { repo: "https://helm.cilium.io" },
      status: { revision: 1 },
      values: { rollOutCiliumPods: true, encryption: { enabled: true }, hubble: { relay: { enabled: false } } },
    };
    const now = {
      chart: "oci://reader:tok3n@registry.example.com/cilium",
      repositoryOpts: { repo: "https://reader:tok3n@charts.example.com" },
      status: { revision: 2 },
      values: { rollOutCiliumPods: false, encryption: { enabled: false }, hubble: { relay: { enabled: true }, tls: { server: { key: KEY } } }, "a.b": "c" },
    };
    const drifted = driftFromEvents([refreshed(RELEASE_TYPE, "cilium", "same", old, now)], "refresh");
    assert.deepEqual(
      drifted[0]!.fields.map((f) => [f.path, f.secret, "before" in f || "after" in f]),
      [
        ["chart", true, false],
        ["repositoryOpts.repo", true, false],
        ["status.revision", false, true],
        ["values.encryption.enabled", false, true],
        ["values.hubble.relay.enabled", true, false],
        ["values.hubble.tls", true, false],
        ["values.rollOutCiliumPods", false, true],
        ['values["a.b"]', true, false],
      ],
    );
    const text = reportText(drifted);
    for (const hidden of [KEY, "tok3n", '"c"']) assert.ok(!text.includes(hidden), `${hidden} in ${text}`);
    assert.match(text, /values\.hubble\.tls: changed \(secret\)/);
    assert.match(text, /values\.encryption\.enabled: true → false/);
  });

  it("whatever a release's users put in its values, the report shows no value outside the encryption settings (property)", () => {
    const key = fc.constantFrom("encryption", "rollOutCiliumPods", "hubble", "tls", "key", "a.b", "0");
    const tree = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.uuid().map((u) => `val-${u}`),
        tie("array"),
        tie("object"),
      ),
      array: fc.array(tie("value"), { maxLength: 3 }),
      object: fc.dictionary(key, tie("value"), { maxKeys: 4, noNullPrototype: true }),
    })).object;
    /** Every string leaf of a values tree, except those under the keys the report may show. */
    const hidden = (v: unknown, top = true): string[] => {
      if (typeof v === "string") return [v];
      if (v === null || typeof v !== "object") return [];
      return Object.entries(v).flatMap(([k, x]) => (top && (k === "encryption" || k === "rollOutCiliumPods") ? [] : hidden(x, false)));
    };
    fc.assert(
      fc.property(tree, tree, (before, after) => {
        const text = reportText(driftFromEvents([refreshed(RELEASE_TYPE, "cilium", "same", { values: before }, { values: after })], "refresh"));
        for (const leaf of [...hidden(before), ...hidden(after)]) assert.ok(!text.includes(leaf), `${leaf} in ${text}`);
      }),
    );
  });

  it("a path the engine's diff names inside a masked value is masked, whatever the type", () => {
    const events = [
      refreshed(
        "kubernetes:core/v1:ConfigMap",
        "cfg",
        "update",
        { data: SECRET },
        { data: { ...SECRET } },
        { "data.token": { kind: "update", inputDiff: false } },
      ),
    ];
    assert.deepEqual(driftFromEvents(events, "refresh")[0]!.fields, [{ path: "data.token", kind: "update", secret: true }]);
    assert.equal(getPath({ data: SECRET }, "data.token.x"), "[secret]");
  });

  it("only the server's bookkeeping changed (resourceVersion, managedFields): no drift", () => {
    const now = secretOutputs({ resourceVersion: "205" });
    now.metadata.managedFields.push({ manager: "kubectl-label", operation: "Update" });
    assert.deepEqual(driftFromEvents([refreshed(SECRET_TYPE, "ipsec-key-secret", "same", secretOutputs(), now)], "refresh"), []);
  });

  it("deleted out of band: reported as delete; unchanged resources, the stack, providers and read resources are not", () => {
    const events = [
      refreshed(SECRET_TYPE, "ipsec-key-secret", "delete", secretOutputs(), secretOutputs()),
      refreshed(RELEASE_TYPE, "cilium", "same", { a: 1 }, { a: 1 }),
      refreshed("pulumi:pulumi:Stack", "cilium-encryption-dev", "same", { a: 1 }, { a: 2 }),
      refreshed("pulumi:providers:kubernetes", "k8s", "same", { kubeconfig: "x" }, { kubeconfig: "y" }),
      // The program reads its own stack's outputs: every update changes them.
      refreshed("pulumi:pulumi:StackReference", "organization/cilium-encryption/dev", "update", { outputs: {} }, { outputs: { mode: "ipsec" } }),
      external(refreshed(SECRET_TYPE, "read-only", "update", { a: 1 }, { a: 2 })),
    ];
    assert.deepEqual(driftFromEvents(events, "refresh"), [{ type: SECRET_TYPE, name: "ipsec-key-secret", op: "delete", fields: [] }]);
  });

  it("the engine's own diff names a field the outputs hide (both sides masked): still reported, once", () => {
    const events = [refreshed(SECRET_TYPE, "ipsec-key-secret", "update", secretOutputs(), secretOutputs(), { data: { kind: "update", inputDiff: false } })];
    assert.deepEqual(driftFromEvents(events, "refresh")[0]!.fields, [{ path: "data", kind: "update", secret: true }]);
  });
});

describe("drift from a preview, merged", () => {
  it("the Secret's inputs: masked whatever the path, and what up does wins over changed-outside", () => {
    const refresh = driftFromEvents([refreshed(SECRET_TYPE, "ipsec-key-secret", "same", secretOutputs(), secretOutputs({ labels: { x: "1" } }))], "refresh");
    const planned = driftFromEvents(
      [
        preview(
          SECRET_TYPE,
          "ipsec-key-secret",
          "update",
          { 'metadata.annotations["cilium-encryption/key-id"]': { kind: "update", inputDiff: true } },
          { metadata: { annotations: { "cilium-encryption/key-id": "2" } } },
          { metadata: { annotations: { "cilium-encryption/key-id": "1" } } },
        ),
      ],
      "preview",
    );
    const merged = mergeDrift(refresh, planned);
    assert.equal(merged.length, 1);
    assert.equal(merged[0]!.op, "update");
    assert.deepEqual(
      merged[0]!.fields.map((f) => [f.path, f.secret, "before" in f]),
      [
        ["metadata.labels.x", true, false],
        ['metadata.annotations["cilium-encryption/key-id"]', true, false],
      ],
    );
  });

  it("the release's secret values: a change the engine names inside them shows its path only", () => {
    const planned = driftFromEvents(
      [
        preview(
          RELEASE_TYPE,
          "cilium",
          "update",
          { "values.hubble.tls.server.key": { kind: "update", inputDiff: true } },
          { values: SECRET },
          { values: { ...SECRET } },
        ),
      ],
      "preview",
    );
    assert.deepEqual(planned[0]!.fields, [{ path: "values.hubble.tls.server.key", kind: "update", secret: true }]);
    assert.match(formatReport({ stack: "dev", drifted: planned }), /values\.hubble\.tls\.server\.key: changed \(secret\)/);
  });

  it("a preview that changes nothing adds nothing", () => {
    assert.deepEqual(driftFromEvents([preview(RELEASE_TYPE, "cilium", "same", {}, {}, {})], "preview"), []);
  });

  it("the text report says what up does about a change the program does not own", () => {
    const report: DriftReport = {
      stack: "dev",
      drifted: [{ type: SECRET_TYPE, name: "ipsec-key-secret", op: CHANGED_OUTSIDE, fields: [{ path: "metadata.labels.x", kind: "add", secret: true }] }],
    };
    assert.match(
      formatReport(report),
      /ipsec-key-secret: changed out of band in fields the program does not set \(up leaves them\)\n {4}metadata\.labels\.x: changed \(secret\)/,
    );
  });
});
