/**
 * deploy/k8s as a cluster would receive it: rendered by kustomize, validated by
 * kubernetes-validate against the Kubernetes API's JSON schemas (tools/stack/k8s-tools.ts), and
 * read back as objects, with what the checks need: each role's pod template, and the
 * NetworkPolicies that select a pod as the API server combines them (a union of allowances).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: the objects are as varied as the Kubernetes API.
  spec?: any;
  data?: Record<string, string>;
}

export interface Render {
  file: string;
  objects: K8sObject[];
}

/** `kustomize build <dir>`, written to `file` for the validator and parsed. */
export async function render(kustomize: string, dir: string, file: string): Promise<Render> {
  const { stdout } = await run(kustomize, ['build', dir], { maxBuffer: 16 * 1024 * 1024 });
  await writeFile(file, stdout);
  const objects = parseAllDocuments(stdout).map((doc) => doc.toJS() as K8sObject);
  return { file, objects };
}

/** Strict: a field the schema does not know (a typo, a field at the wrong level) is an error. */
export async function validate(
  validator: string,
  file: string,
  kubernetesVersion: string,
): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run(validator, [
      '--strict',
      '--quiet',
      '--kubernetes-version',
      kubernetesVersion,
      file,
    ]);
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}

export const ROLES = ['worker', 'api', 'ingest', 'codec', 'migrate', 'setup'] as const;
export type Role = (typeof ROLES)[number];

export interface Workload {
  role: Role;
  object: K8sObject;
  labels: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: a PodSpec.
  pod: any;
}

/** Deployments and Jobs by the role in their pod template's app.kubernetes.io/component. */
export function workloads(objects: K8sObject[]): Map<Role, Workload> {
  const out = new Map<Role, Workload>();
  for (const object of objects) {
    if (object.kind !== 'Deployment' && object.kind !== 'Job') continue;
    const labels = object.spec.template.metadata.labels as Record<string, string>;
    const role = labels['app.kubernetes.io/component'] as Role;
    if (out.has(role)) throw new Error(`two workloads for role ${role}`);
    out.set(role, { role, object, labels, pod: object.spec.template.spec });
  }
  return out;
}

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** A label selector as the API server applies it; `{}` selects everything. */
export function selects(selector: Selector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpression = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    const value = labels[key];
    if (operator === 'In') return value !== undefined && values.includes(value);
    if (operator === 'NotIn') return value === undefined || !values.includes(value);
    if (operator === 'Exists') return value !== undefined;
    if (operator === 'DoesNotExist') return value === undefined;
    throw new Error(`unknown selector operator ${operator}`);
  });
  return byLabel && byExpression;
}

export interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string; except?: string[] };
}
export interface Port {
  protocol?: string;
  port?: number | string;
}
export interface Rule {
  policy: string;
  peers: Peer[] | undefined;
  ports: Port[] | undefined;
}

/** The ingress and egress rules of every NetworkPolicy that selects a pod with these labels. */
export function policiesFor(
  objects: K8sObject[],
  labels: Record<string, string>,
): { names: string[]; ingress: Rule[]; egress: Rule[]; isolated: { ingress: boolean; egress: boolean } } {
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy' && selects(o.spec.podSelector, labels));
  const types = (o: K8sObject): string[] => o.spec.policyTypes ?? ['Ingress'];
  const rules = (o: K8sObject, type: 'ingress' | 'egress'): Rule[] =>
    ((o.spec[type] ?? []) as { from?: Peer[]; to?: Peer[]; ports?: Port[] }[]).map((r) => ({
      policy: o.metadata.name,
      peers: type === 'ingress' ? r.from : r.to,
      ports: r.ports,
    }));
  return {
    names: policies.map((p) => p.metadata.name),
    ingress: policies.filter((p) => types(p).includes('Ingress')).flatMap((p) => rules(p, 'ingress')),
    egress: policies.filter((p) => types(p).includes('Egress')).flatMap((p) => rules(p, 'egress')),
    isolated: {
      ingress: policies.some((p) => types(p).includes('Ingress')),
      egress: policies.some((p) => types(p).includes('Egress')),
    },
  };
}

/** `TCP/5432`, `UDP/53`, ... for a set of rules. */
export function portsOf(rules: Rule[]): string[] {
  return [
    ...new Set(rules.flatMap((r) => (r.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`))),
  ].sort();
}
