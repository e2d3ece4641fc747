/**
 * docs/deployment.md walks a platform team from an empty AWS account and cluster to a provisioned
 * plant (issue 18, "Done when"). Read as text, without a cluster: its commands come in the order
 * the pieces depend on each other (the queues before the policies that name them, the roles before
 * the pods that assume them, the secrets before the pods that read them, the alerts loaded, a plant
 * provisioned last), and they create what deploy/k8s/overlays/example names (queues, roles, the
 * ServiceAccounts' IAM roles). The rendered manifests themselves: kubernetes.test.ts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../support/built-package.js';

const doc = await readFile(join(ROOT, 'docs/deployment.md'), 'utf8');
const overlay = parse(
  await readFile(join(ROOT, 'deploy/k8s/overlays/example/kustomization.yaml'), 'utf8'),
) as {
  namespace: string;
  configMapGenerator: { name: string; literals: string[] }[];
  patches: { target?: { kind: string; name: string }; patch: string }[];
};

const WALKTHROUGH = '## From an empty account and cluster to a provisioned plant';

/** The shell of the walkthrough's code blocks, in document order. */
function walkthroughShell(): string {
  const start = doc.indexOf(WALKTHROUGH);
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
}

const setting = (key: string): string => {
  const literal = overlay.configMapGenerator
    .find((g) => g.name === 'solar-iot-config')
    ?.literals.find((l) => l.startsWith(`${key}=`));
  return literal?.slice(key.length + 1) ?? '';
};
const lastPart = (value: string) => value.split(/[/:]/).pop() ?? '';

/** ServiceAccount name -> the IAM role name the overlay annotates it with. */
function annotatedRoles(): Map<string, string> {
  const roles = new Map<string, string>();
  for (const p of overlay.patches) {
    if (p.target?.kind !== 'ServiceAccount') continue;
    const arn = /eks\.amazonaws\.com\/role-arn: (\S+)/.exec(p.patch)?.[1] ?? '';
    roles.set(p.target.name, lastPart(arn));
  }
  return roles;
}

describe('docs/deployment.md, from an empty account and cluster to a provisioned plant', () => {
  it('has the walkthrough, with shell for every step', () => {
    expect(doc).toContain(WALKTHROUGH);
    expect(walkthroughShell().length).toBeGreaterThan(0);
  });

  it('creates what the overlay names, in the order they depend on each other', () => {
    const shell = walkthroughShell();
    const queue = lastPart(setting('AWS_SQS_QUEUE_URL'));
    const deadLetters = lastPart(setting('AWS_SQS_DEAD_LETTER_QUEUE_URL'));
    const ruleRole = lastPart(setting('AWS_IOT_ROLE_ARN'));
    const steps: [string, RegExp][] = [
      [
        'the dead-letter queue, 14 days',
        new RegExp(`create-queue --queue-name ${deadLetters}\\b[^\\n]*MessageRetentionPeriod=1209600`),
      ],
      ['the telemetry queue', new RegExp(`create-queue --queue-name ${queue}(\\s|$)`)],
      ['the IoT data endpoint', /aws iot describe-endpoint --endpoint-type iot:Data-ATS/],
      ['the rule role', new RegExp(`aws iam create-role --role-name ${ruleRole}\\b`)],
      ["the rule role's policy", new RegExp(`put-role-policy --role-name ${ruleRole}\\b`)],
      ["the pods' roles", /aws iam create-role --role-name "solar-iot-\$role"/],
      ["the pods' policies", /aws iam put-role-policy --role-name "solar-iot-\$role"/],
      ['the secrets', /kubectl -n solar-iot create secret generic/],
      ['the Jobs first', /kubectl apply -f solar-iot\.yaml \\\n\s+-l /],
      [
        'the Jobs complete',
        /kubectl -n solar-iot wait --for=condition=complete job\/solar-iot-migrate job\/solar-iot-setup/,
      ],
      ['the roles', /kubectl apply -f solar-iot\.yaml\n/],
      ['the alerts', /deploy\/prometheus\/alerts\.yml/],
      ['a plant provisioned', /plants create [^\n]*--wait/],
    ];
    let at = -1;
    for (const [what, pattern] of steps) {
      const found = pattern.exec(shell.slice(at + 1));
      expect(found, `${what}: ${pattern} after the previous step`).not.toBeNull();
      at += 1 + (found?.index ?? 0);
    }
  });

  it("gives each annotated ServiceAccount's IAM role a trust in exactly that account", () => {
    const shell = walkthroughShell();
    const loop = /for role in ([a-z ]+); do\n\s+aws iam create-role --role-name "solar-iot-\$role"/.exec(
      shell,
    );
    const created = new Map(
      (loop?.[1] ?? '').split(' ').map((role) => [`solar-iot-${role}`, `solar-iot-${role}`]),
    );
    expect(created).toEqual(annotatedRoles());
    // IRSA: the web identity of that ServiceAccount only, for STS.
    // (the loop's variable, spliced into the single-quoted JSON)
    expect(shell).toContain(`"system:serviceaccount:${overlay.namespace}:solar-iot-'"$role"'"`);
    expect(shell).toContain('sts.amazonaws.com');
    expect(shell).toContain('sts:AssumeRoleWithWebIdentity');
  });

  it('renders the IAM documents with the names the overlay uses', () => {
    const render = /render\(\) \{[\s\S]*?\n\}/.exec(doc)?.[0] ?? '';
    expect(render).toContain(`{{TELEMETRY_QUEUE}}/${lastPart(setting('AWS_SQS_QUEUE_URL'))}/`);
    expect(render).toContain(`{{DEAD_LETTER_QUEUE}}/${lastPart(setting('AWS_SQS_DEAD_LETTER_QUEUE_URL'))}/`);
    expect(render).toContain(`{{RULE_ROLE_NAME}}/${lastPart(setting('AWS_IOT_ROLE_ARN'))}/`);
  });
});
