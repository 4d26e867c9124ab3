/**
 * The wire check's images: their defaults, pinned by digest, and what an override may be. A pod
 * runs what a digest names, whatever the tag came to mean since; the capture pods run with NET_RAW
 * on every sampled node.
 */

// busybox has httpd, wget and sleep. The tag's multi-arch index as Cilium pins it for its own use:
// cilium v1.16.19 install/kubernetes/cilium/values.yaml, authentication.mutual.spire.install.initImage
// (docker.io/library/busybox, tag 1.36.1, digest kept by Renovate). Not checked against the
// registry from here.
export const DEFAULT_WORKLOAD_IMAGE = "docker.io/library/busybox:1.36.1@sha256:4059babd1b7f9ad15525d28c5cdc7243eb75b4e4131aca2b4232c66eadce2250";
// netshoot has tcpdump, iproute2 (ip -j) and iputils ping (-p). Cilium and Kubernetes pin no
// netshoot by digest; this is the digest containerd and Docker report for nicolaka/netshoot:v0.13
// pulled by tag in independent public records (a kubelet's imageID for :latest while v0.13 was
// the latest release, a Docker Desktop check of :v0.13). Not checked against the registry from here.
export const DEFAULT_CAPTURE_IMAGE = "docker.io/nicolaka/netshoot:v0.13@sha256:a20c2531bf35436ed3766cd6cfe89d352b050ccc4d7005ce6400adf97503da1b";

// github.com/distribution/reference v0.6.0 regexp.go: the reference grammar container runtimes
// parse, narrowed to a sha256 digest (the only one registries serve).
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const REFERENCE = new RegExp(`^(${DOMAIN})/(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::[\\w][\\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`);
// reference.go RepositoryNameTotalLengthMax.
const MAX_PATH = 255;

export const IMAGE_REFERENCE_ALLOWED =
  'an image reference with its registry: <registry>/<repository>[:<tag>][@sha256:<64 hex digits>], e.g. "registry.example.com/mirror/busybox:1.36.1"';

/**
 * Why REF cannot be a wire check image, or null; the reason never repeats REF (the setting may be secret). The registry must be explicit: the node's runtime
 * would otherwise resolve a short name itself (CRI-O asks its search registries in turn).
 */
export function imageReferenceProblem(ref: string): string | null {
  if (ref.startsWith("-")) return 'must not start with "-" (it would be read as a command-line flag)';
  const m = REFERENCE.exec(ref);
  if (!m && /^[^/@]+(@.*)?$/.test(ref))
    return 'must name its registry before the repository, e.g. "docker.io/library/busybox:1.36.1" rather than "busybox:1.36.1"';
  if (!m) {
    if (/@/.test(ref) && !/@sha256:[a-f0-9]{64}$/.test(ref)) return `must be ${IMAGE_REFERENCE_ALLOWED}; a digest must be sha256: and 64 lowercase hex digits`;
    return `must be ${IMAGE_REFERENCE_ALLOWED}`;
  }
  const [, domain, path] = m;
  if (domain !== "localhost" && !/[.:]/.test(domain!)) {
    return 'must name its registry (a host with a "." or a port, or localhost) before the repository, e.g. "docker.io/mirror/busybox" rather than "mirror/busybox"';
  }
  if (path!.length > MAX_PATH) return `has a repository path longer than ${MAX_PATH} characters`;
  return null;
}
