/**
 * deploy/k8s (issue 18, item 5), checked without a cluster: the base and the example overlay are
 * rendered by kustomize and validated, strictly (an unknown field or one at the wrong level fails),
 * against the JSON schemas of the Kubernetes API of the oldest and the newest release we support,
 * all from the tool cache (tools/stack/k8s-tools.ts: nothing is downloaded at run time). Then what
 * a platform team relies on: one image for every role, each with its command from
 * docker-compose.yml; non-root, read-only pods without privileges; probes on what each role
 * serves; termination grace that covers the drains; a PodDisruptionBudget per Deployment; secrets
 * only by reference and only where README "Security" puts them; the rendered configuration
 * accepted by each role's own loader; a NetworkPolicy per role and nothing reachable that the role
 * does not need.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  loadApiConfig,
  loadCodecServerConfig,
  loadIngestConfig,
  loadRotationScheduleConfig,
  loadWorkerConfig,
} from '../../src/app/config.js';
import { loadConfig } from '../../src/config/index.js';
import { HEALTH_CHECKS } from '../../src/healthcheck.js';
import { loadIngestSettings } from '../../src/ingest/settings.js';
import { allowed } from '../../tools/stack/child-env.js';
import { ensureKubernetesValidate, ensureKustomize } from '../../tools/stack/k8s-tools.js';
import { ROOT } from '../support/built-package.js';
import { last, readDockerfile, type Stage } from '../support/dockerfile.js';
import {
  type K8sObject,
  policiesFor,
  portsOf,
  type Render,
  ROLES,
  type Role,
  render,
  selects,
  validate,
  type Workload,
  workloads,
} from '../support/kubernetes.js';

/** The oldest Kubernetes release the manifests support (docs/deployment.md) and the newest schemas. */
const KUBERNETES_VERSIONS = ['1.31.0', '1.37.0'];
const LONG_RUNNING: Role[] = ['worker', 'api', 'ingest', 'codec'];
/**
 * How long a role may take to start before the kubelet gives up on it (its startupProbe's
 * periodSeconds x failureThreshold). Measured from spawn to answering its liveness check
 * (docs/deployment.md, Probes): 0.9 to 2.4 s for each role on a 2-core machine at load 6. The
 * worker connects to Temporal before its /healthz listens, and exits by itself when Temporal does
 * not answer within the SDK's 10 s connect deadline (11 s measured; restarted with back-off, as
 * it should be). A minute holds a node several times slower than that.
 */
const STARTUP_WINDOW_SECONDS = 60;
/** The one-shot Jobs, before the roles start, and the compose service of each role. */
const ONE_SHOT: Role[] = ['migrate', 'setup'];
const COMPOSE_SERVICE: Record<Role, string> = {
  worker: 'worker',
  api: 'api',
  ingest: 'ingest',
  codec: 'codec',
  migrate: 'migrate',
  setup: 'solar-iot-setup',
};

/** Which process holds which secret (README "Security"; tools/stack/child-env.ts for npm start). */
const SECRETS: Record<Role, string[]> = {
  worker: [
    'DATABASE_URL',
    'ENCRYPTION_KEY',
    'ENCRYPTION_KEYS_PREVIOUS',
    'TEMPORAL_API_KEY',
    'TEMPORAL_CODEC_KEYS',
  ],
  api: ['API_TOKEN', 'DATABASE_URL', 'TEMPORAL_API_KEY', 'TEMPORAL_CODEC_KEYS'],
  ingest: ['DATABASE_URL'],
  codec: ['CODEC_SERVER_TOKEN', 'TEMPORAL_CODEC_KEYS'],
  migrate: ['DATABASE_URL'],
  setup: ['TEMPORAL_API_KEY', 'TEMPORAL_CODEC_KEYS'],
};
const SECRET_NAME = /KEY|TOKEN|PASSWORD|SECRET|DATABASE_URL/;

/** Where each role may connect (base/network.yaml) and who may connect to it. */
const DNS = ['TCP/53', 'UDP/53'];
const EGRESS: Record<Role, string[]> = {
  worker: [...DNS, 'TCP/443', 'TCP/5432', 'TCP/7233'],
  api: [...DNS, 'TCP/443', 'TCP/5432', 'TCP/7233'],
  ingest: [...DNS, 'TCP/443', 'TCP/5432'],
  codec: DNS,
  migrate: [...DNS, 'TCP/5432'],
  setup: [...DNS, 'TCP/7233'],
};
const INGRESS: Record<Role, string[]> = {
  worker: ['TCP/9465', 'TCP/9466'],
  api: ['TCP/3000', 'TCP/9467'],
  ingest: ['TCP/9464'],
  codec: ['TCP/8234'],
  migrate: [],
  setup: [],
};

interface Service {
  command?: string[];
}
const compose = parse(await readFile(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};

let dir: string;
let kustomize: string;
let validator: string;
const renders: Record<'base' | 'example', Render> = {} as never;

beforeAll(async () => {
  // Built or installed once per machine (CI's tools step does it before the tests).
  [kustomize, validator] = await Promise.all([ensureKustomize(), ensureKubernetesValidate()]);
  dir = await mkdtemp(join(tmpdir(), 'solar-iot-k8s-'));
  renders.base = await render(kustomize, join(ROOT, 'deploy/k8s/base'), join(dir, 'base.yaml'));
  renders.example = await render(
    kustomize,
    join(ROOT, 'deploy/k8s/overlays/example'),
    join(dir, 'example.yaml'),
  );
}, 900_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const container = (w: Workload) => w.pod.containers[0];
/** The variables a container gets: its env entries and the ConfigMaps it takes whole. */
function environment(objects: K8sObject[], w: Workload) {
  const c = container(w);
  const fromMaps: Record<string, string> = {};
  for (const ref of c.envFrom ?? []) {
    const map = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ref.configMapRef?.name);
    Object.assign(fromMaps, map?.data);
  }
  const values: Record<string, string> = {};
  const secrets: Record<string, { name: string; key: string; optional?: boolean }> = {};
  for (const e of c.env ?? []) {
    if (e.valueFrom?.secretKeyRef) secrets[e.name] = e.valueFrom.secretKeyRef;
    else values[e.name] = e.value;
  }
  return { fromMaps, values, secrets };
}

describe.each(['base', 'example'] as const)('deploy/k8s %s', (which) => {
  const objects = () => renders[which].objects;

  it.each(KUBERNETES_VERSIONS)('renders objects that validate strictly against Kubernetes %s', async (v) => {
    expect(objects().length).toBeGreaterThan(20);
    const { ok, output } = await validate(validator, renders[which].file, v);
    expect(output).toBe('');
    expect(ok).toBe(true);
  });

  it('runs every role from one image, each with its command from docker-compose.yml', () => {
    const all = workloads(objects());
    expect([...all.keys()].sort()).toEqual([...ROLES].sort());
    for (const [role, w] of all) {
      expect(w.object.kind, role).toBe(ONE_SHOT.includes(role) ? 'Job' : 'Deployment');
      expect(w.pod.containers, role).toHaveLength(1);
      expect(container(w).command, role).toEqual(compose.services[COMPOSE_SERVICE[role]]?.command);
    }
    const images = new Set(
      [...all.values()].flatMap((w) => w.pod.containers.map((c: { image: string }) => c.image)),
    );
    expect(images.size).toBe(1);
    expect([...images][0]).toMatch(/^[\w./-]*solar-iot:\d+\.\d+\.\d+$/);
  });

  it('runs every pod as a non-root user, read-only, without privileges or a Kubernetes API token', () => {
    const accounts = objects().filter((o) => o.kind === 'ServiceAccount');
    // The image's numeric USER (uid:gid), which runAsNonRoot can check; the pods say the same.
    const [uid, gid] = String(last(readDockerfile(join(ROOT, 'Dockerfile')).at(-1) as Stage, 'USER'))
      .split(':')
      .map(Number);
    expect(uid).toBeGreaterThan(0);
    for (const [role, w] of workloads(objects())) {
      const pod = w.pod.securityContext;
      expect(pod.runAsNonRoot, role).toBe(true);
      expect([pod.runAsUser, pod.runAsGroup], role).toEqual([uid, gid]);
      expect(pod.seccompProfile, role).toEqual({ type: 'RuntimeDefault' });
      const c = container(w).securityContext;
      expect(c.allowPrivilegeEscalation, role).toBe(false);
      expect(c.readOnlyRootFilesystem, role).toBe(true);
      expect(c.capabilities.drop, role).toEqual(['ALL']);
      expect(c.privileged ?? false, role).toBe(false);
      expect(c.runAsUser ?? pod.runAsUser, role).not.toBe(0);
      // A ServiceAccount of its own (its IAM role in the overlay), with no API token mounted.
      expect(w.pod.serviceAccountName, role).toBe(`solar-iot-${role}`);
      expect(w.pod.automountServiceAccountToken, role).toBe(false);
      const account = accounts.find((a) => a.metadata.name === w.pod.serviceAccountName);
      expect(account, role).toBeDefined();
      expect((account as { automountServiceAccountToken?: boolean }).automountServiceAccountToken).toBe(
        false,
      );
      // Only emptyDir volumes: /tmp for libraries, nothing from the node.
      for (const volume of w.pod.volumes ?? [])
        expect(Object.keys(volume).sort(), role).toEqual(['emptyDir', 'name']);
    }
  });

  it('probes each long-running role on what it serves, the ports its configuration gives', () => {
    const all = workloads(objects());
    const port = (w: Workload, probe: { httpGet?: { port: unknown }; tcpSocket?: { port: unknown } }) => {
      const p = probe.httpGet?.port ?? probe.tcpSocket?.port;
      const named = (container(w).ports ?? []).find((cp: { name: string }) => cp.name === p);
      return named ? named.containerPort : p;
    };
    for (const role of LONG_RUNNING) {
      const w = all.get(role) as Workload;
      const c = container(w);
      expect(c.readinessProbe, role).toBeDefined();
      expect(c.livenessProbe, role).toBeDefined();
      // Liveness counts only once the startup probe, the same check, passed: a slow first start
      // is waited for, not killed, and no initialDelaySeconds guesses at it.
      expect(c.startupProbe, `${role} has no startupProbe`).toBeDefined();
      const check = ({ httpGet, tcpSocket, exec, grpc }: Record<string, unknown>) => ({
        httpGet,
        tcpSocket,
        exec,
        grpc,
      });
      expect(check(c.startupProbe), role).toEqual(check(c.livenessProbe));
      expect(c.livenessProbe.initialDelaySeconds, role).toBeUndefined();
      const { periodSeconds = 10, failureThreshold = 3 } = c.startupProbe;
      expect(periodSeconds * failureThreshold, role).toBeGreaterThanOrEqual(STARTUP_WINDOW_SECONDS);
      expect(Object.keys(c.resources.requests).sort(), role).toEqual(['cpu', 'memory']);
      expect(c.resources.limits.memory, role).toBeDefined();
      const { values } = environment(objects(), w);
      if (role === 'worker') {
        // Ready when it reaches Temporal (the image's health check, which must know the role);
        // alive while its metrics endpoint answers.
        expect(c.readinessProbe.exec.command).toEqual(['node', 'dist/healthcheck.js', 'worker']);
        expect(Object.keys(HEALTH_CHECKS)).toContain('worker');
        expect(c.livenessProbe.httpGet.path).toBe('/healthz');
        expect(Number(values.WORKER_METRICS_PORT)).toBeGreaterThan(0);
        expect(port(w, c.livenessProbe)).toBe(Number(values.WORKER_METRICS_PORT));
      }
      if (role === 'api') {
        expect(c.readinessProbe.httpGet.path).toBe('/readyz');
        expect(c.livenessProbe.httpGet.path).toBe('/healthz');
        expect(port(w, c.readinessProbe)).toBe(Number(values.PORT));
        expect(port(w, c.livenessProbe)).toBe(Number(values.PORT));
      }
      if (role === 'ingest') {
        expect(c.livenessProbe.httpGet.path).toBe('/healthz');
        expect(Number(values.METRICS_PORT)).toBeGreaterThan(0);
        expect(port(w, c.livenessProbe)).toBe(Number(values.METRICS_PORT));
        expect(port(w, c.readinessProbe)).toBe(Number(values.METRICS_PORT));
      }
      if (role === 'codec') {
        expect(port(w, c.livenessProbe)).toBe(Number(values.CODEC_SERVER_PORT));
        expect(port(w, c.readinessProbe)).toBe(Number(values.CODEC_SERVER_PORT));
      }
    }
  });

  it("gives the worker and the consumer the time their drains take before they're killed", async () => {
    const all = workloads(objects());
    const source = await readFile(join(ROOT, 'src/worker.ts'), 'utf8');
    const grace = Number(/shutdownGraceTime: '(\d+)s'/.exec(source)?.[1]);
    expect(grace).toBeGreaterThan(0);
    // The grace for activities, then as long again to cancel the rest and close the connections.
    expect(all.get('worker')?.pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(2 * grace);
    const { shutdownTimeoutSeconds } = loadIngestSettings({});
    expect(all.get('ingest')?.pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(
      shutdownTimeoutSeconds + 30,
    );
  });

  it('keeps at least one pod of each Deployment through voluntary disruptions', () => {
    const budgets = objects().filter((o) => o.kind === 'PodDisruptionBudget');
    for (const role of LONG_RUNNING) {
      const w = workloads(objects()).get(role) as Workload;
      const mine = budgets.filter((b) => selects(b.spec.selector, w.labels));
      expect(mine, role).toHaveLength(1);
      expect(mine[0]?.spec.maxUnavailable, role).toBe(1);
      expect(w.object.spec.replicas, role).toBeGreaterThanOrEqual(2);
    }
  });

  it('defines no Secret and gives each role only its own secrets, by reference', () => {
    expect(objects().filter((o) => o.kind === 'Secret')).toEqual([]);
    for (const [role, w] of workloads(objects())) {
      const c = container(w);
      const { fromMaps, values, secrets } = environment(objects(), w);
      expect(Object.keys(secrets).sort(), role).toEqual(SECRETS[role]);
      // Never a whole Secret as the environment, never a secret's value in the manifests.
      expect(
        (c.envFrom ?? []).filter((e: { secretRef?: unknown }) => e.secretRef),
        role,
      ).toEqual([]);
      for (const name of [...Object.keys(values), ...Object.keys(fromMaps)])
        expect(name, `${role}: ${name} is set inline`).not.toMatch(SECRET_NAME);
      for (const value of [...Object.values(values), ...Object.values(fromMaps)])
        expect(value, role).not.toMatch(/:\/\/[^/@\s]+:[^/@\s]+@/);
      // The same least privilege as npm start's processes (tools/stack/child-env.ts).
      if (role !== 'migrate' && role !== 'setup')
        for (const name of Object.keys(secrets)) expect(allowed(role, name), `${role}: ${name}`).toBe(true);
    }
  });

  it('isolates every role with a NetworkPolicy of its own and lets it reach only what it needs', () => {
    const all = workloads(objects());
    for (const role of ROLES) {
      const { labels } = all.get(role) as Workload;
      const { names, ingress, egress, isolated } = policiesFor(objects(), labels);
      expect(names, role).toContain(`solar-iot-${role}`);
      expect(isolated, role).toEqual({ ingress: true, egress: true });
      expect(portsOf(egress), role).toEqual([...EGRESS[role]].sort());
      expect(portsOf(ingress), role).toEqual([...INGRESS[role]].sort());
      // Every rule names its peers and its ports: none allows everything.
      for (const rule of [...ingress, ...egress]) {
        expect(rule.peers?.length, `${role} ${rule.policy}`).toBeGreaterThan(0);
        expect(rule.ports?.length, `${role} ${rule.policy}`).toBeGreaterThan(0);
      }
      // Temporal and PostgreSQL are other pods (or addresses), never solar-iot's own.
      for (const rule of egress)
        for (const peer of rule.peers ?? [])
          expect(peer.podSelector?.matchLabels?.['app.kubernetes.io/name'], rule.policy).not.toBe(
            'solar-iot',
          );
      // HTTPS (AWS) to addresses only: NetworkPolicy cannot name a host.
      for (const rule of egress.filter((r) => portsOf([r]).includes('TCP/443')))
        for (const peer of rule.peers ?? []) expect(Object.keys(peer), rule.policy).toEqual(['ipBlock']);
    }
  });
});

describe('deploy/k8s example overlay', () => {
  const objects = () => renders.example.objects;

  it("gives each role a configuration its own loader accepts, listening where the pod's ports are", () => {
    const all = workloads(objects());
    const secret = () => randomBytes(32).toString('hex');
    const env = (role: Role): Record<string, string> => {
      const { fromMaps, values, secrets } = environment(objects(), all.get(role) as Workload);
      const placeholders: Record<string, string> = {
        DATABASE_URL: 'postgres://solar:placeholder@db.example.com:5432/solar_iot',
        ENCRYPTION_KEY: secret(),
        TEMPORAL_CODEC_KEYS: `k1:${secret()}`,
        API_TOKEN: secret(),
        CODEC_SERVER_TOKEN: secret(),
      };
      const required = Object.entries(secrets).filter(([, ref]) => !ref.optional);
      return {
        ...fromMaps,
        ...values,
        ...Object.fromEntries(required.map(([k]) => [k, placeholders[k] as string])),
      };
    };
    /** The container's ports by name: each must be one its process listens on, and vice versa. */
    const ports = (role: Role) =>
      Object.fromEntries(
        (container(all.get(role) as Workload).ports ?? []).map(
          (p: { name: string; containerPort: number }) => [p.name, p.containerPort],
        ),
      );
    const worker = loadWorkerConfig(env('worker'));
    expect(worker.core.temporal.address).toMatch(/:7233$/);
    expect(worker.metrics.host).toBe('0.0.0.0');
    // A fleet shares the account's quotas: at most 0.75 of each (docs/deployment.md, Workers).
    expect(all.get('worker')?.object.spec.replicas).toBeGreaterThan(1);
    expect(worker.utilization).toBeLessThanOrEqual(0.75);
    expect(ports('worker')).toEqual({
      metrics: worker.metrics.port,
      'sdk-metrics': worker.metrics.temporalPort,
    });
    const api = loadApiConfig(env('api'));
    expect([api.api.host, api.api.metrics.host]).toEqual(['0.0.0.0', '0.0.0.0']);
    expect(ports('api')).toEqual({ http: api.core.port, metrics: api.api.metrics.port });
    expect(api.api.allowedHosts).toContain('api.solar.example.com');
    const ingest = loadIngestConfig(env('ingest'));
    expect(ingest.metricsHost).toBe('0.0.0.0');
    expect(ports('ingest')).toEqual({ metrics: ingest.ingest.metricsPort });
    expect(ingest.queueUrl).toMatch(/^https:\/\/sqs\./);
    const codec = loadCodecServerConfig(env('codec'));
    expect(codec.server.host).toBe('0.0.0.0');
    expect(ports('codec')).toEqual({ http: codec.server.port });
    expect(codec.server.corsOrigins).toEqual(['https://temporal.example.com']);
    expect(loadConfig(env('migrate'), { requireEncryptionKey: false }).databaseUrl).toBeDefined();
    expect(loadRotationScheduleConfig(env('setup')).codec.keys).toHaveLength(1);
    for (const role of ONE_SHOT) expect(ports(role), role).toEqual({});
  });

  it("applies what the migrations need before the roles, with docs/deployment.md's selector", async () => {
    const text = await readFile(join(ROOT, 'docs/deployment.md'), 'utf8');
    const selector = /kubectl apply -f solar-iot\.yaml \\\n\s+-l '([^']+)'/.exec(text)?.[1] ?? '';
    // key!=value selects objects without the key too (Kubernetes label selectors).
    const first = objects().filter((o) =>
      selector.split(',').every((term) => {
        const [key = '', value] = term.split('!=');
        return o.metadata.labels?.[key] !== value;
      }),
    );
    const kinds = (list: K8sObject[]) => [...new Set(list.map((o) => o.kind))].sort();
    // The Ingress too (no role of its own): it answers 503 until the Services have pods.
    expect(kinds(first)).toEqual([
      'ConfigMap',
      'Ingress',
      'Job',
      'Namespace',
      'NetworkPolicy',
      'ServiceAccount',
    ]);
    expect(first.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name)).toEqual(
      ONE_SHOT.map((role) => `solar-iot-${role}`),
    );
    // Each Job's pod reaches what it needs with the policies applied with it.
    for (const role of ONE_SHOT) {
      const job = workloads(objects()).get(role) as Workload;
      expect(portsOf(policiesFor(first, job.labels).egress), role).toEqual([...EGRESS[role]].sort());
    }
    // Everything else of the roles comes with the second apply.
    expect(kinds(objects().filter((o) => !first.includes(o)))).toEqual([
      'Deployment',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Service',
      'ServiceAccount',
    ]);
  });

  it('puts the namespace under the restricted Pod Security Standard', () => {
    const namespace = objects().find((o) => o.kind === 'Namespace');
    expect(namespace?.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const o of objects().filter((x) => x.kind !== 'Namespace'))
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(namespace?.metadata.name);
  });
});

describe('the AWS egress', () => {
  // HTTPS to any public address, never into the cluster or the VPC: the Kubernetes API server, a
  // webhook or another tenant's pod on 443 are not AWS (a VPC endpoint's CIDR goes in a patch).
  const PRIVATE = ['10.0.0.0/8', '100.64.0.0/10', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16'];
  it.each(['base', 'example'] as const)('%s: excludes the private and link-local ranges', (which) => {
    const policy = renders[which].objects.find((o) => o.metadata.name === 'solar-iot-egress-aws');
    const blocks = (
      (policy?.spec.egress ?? []) as { to: { ipBlock?: { cidr: string; except?: string[] } }[] }[]
    )
      .flatMap((rule) => rule.to)
      .map((peer) => peer.ipBlock);
    const v4 = blocks.find((b) => b?.cidr === '0.0.0.0/0');
    expect([...(v4?.except ?? [])].sort()).toEqual(PRIVATE);
    for (const b of blocks) expect(b, 'every peer an ipBlock').toBeDefined();
  });
});

describe('the schema validation', () => {
  it('refuses a field at the wrong level (readOnlyRootFilesystem on the pod instead of the container)', async () => {
    const [deployment] = renders.base.objects.filter((o) => o.kind === 'Deployment');
    const broken = structuredClone(deployment) as K8sObject;
    broken.spec.template.spec.securityContext.readOnlyRootFilesystem = true;
    const file = join(dir, 'broken.json');
    await writeFile(file, JSON.stringify(broken));
    const { ok, output } = await validate(validator, file, KUBERNETES_VERSIONS[0] as string);
    expect(ok).toBe(false);
    expect(output).toContain('readOnlyRootFilesystem');
  });
});
