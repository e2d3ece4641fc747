/**
 * Read-only AWS IoT calls of the reconciliation: full listings (every page) and per-resource
 * lookups, each retried a few times on transient errors so one throttle does not spoil a report.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeCertificateCommand,
  GetPolicyCommand,
  GetTopicRuleCommand,
  type IoTClient,
  ListAttachedPoliciesCommand,
  ListCertificatesCommand,
  ListPoliciesCommand,
  ListPrincipalThingsCommand,
  ListTargetsForPolicyCommand,
  ListThingPrincipalsCommand,
  ListThingsCommand,
  ListTopicRulesCommand,
  type TopicRule,
} from '@aws-sdk/client-iot';
import { isAwsError, isRetryableAwsError } from '../iot/aws-errors.js';

export interface AwsThing {
  thingName: string;
  thingArn: string;
  attributes: Record<string, string>;
}

export interface AwsCertificate {
  certificateId: string;
  certificateArn: string;
  status: string;
  creationDate: Date | undefined;
}

const ATTEMPTS = 5;

/** Concurrent per-resource AWS calls (the List* calls have low request-rate quotas). */
export const LOOKUP_CONCURRENCY = 4;

/** One AWS call, retried with backoff on throttling, 5xx and network errors. */
export async function retrying<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= ATTEMPTS || !isRetryableAwsError(error)) throw error;
      await sleep(Math.min(200 * 2 ** attempt, 5000));
    }
  }
}

/** Runs `fn` on every item, at most `limit` at once (AWS list calls have low TPS quotas). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i] as T);
    }),
  );
  return results;
}

export class IotReader {
  constructor(private readonly iot: IoTClient) {}

  async things(): Promise<AwsThing[]> {
    const out: AwsThing[] = [];
    let nextToken: string | undefined;
    do {
      const page = await retrying(() => this.iot.send(new ListThingsCommand({ maxResults: 250, nextToken })));
      for (const t of page.things ?? []) {
        if (t.thingName)
          out.push({ thingName: t.thingName, thingArn: t.thingArn ?? '', attributes: t.attributes ?? {} });
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return out;
  }

  async certificates(): Promise<AwsCertificate[]> {
    const out: AwsCertificate[] = [];
    let marker: string | undefined;
    do {
      const page = await retrying(() =>
        this.iot.send(new ListCertificatesCommand({ pageSize: 250, marker })),
      );
      for (const c of page.certificates ?? []) {
        if (c.certificateId && c.certificateArn) {
          out.push({
            certificateId: c.certificateId,
            certificateArn: c.certificateArn,
            status: c.status ?? 'UNKNOWN',
            creationDate: c.creationDate,
          });
        }
      }
      marker = page.nextMarker;
    } while (marker);
    return out;
  }

  async policyNames(): Promise<string[]> {
    const out: string[] = [];
    let marker: string | undefined;
    do {
      const page = await retrying(() => this.iot.send(new ListPoliciesCommand({ pageSize: 250, marker })));
      for (const p of page.policies ?? []) if (p.policyName) out.push(p.policyName);
      marker = page.nextMarker;
    } while (marker);
    return out;
  }

  async ruleNames(): Promise<string[]> {
    const out: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await retrying(() =>
        this.iot.send(new ListTopicRulesCommand({ maxResults: 250, nextToken })),
      );
      for (const r of page.rules ?? []) if (r.ruleName) out.push(r.ruleName);
      nextToken = page.nextToken;
    } while (nextToken);
    return out;
  }

  /** Principals (certificate ARNs) of a thing; none when the thing is gone. */
  async thingPrincipals(thingName: string): Promise<string[]> {
    return this.paged(async (nextToken) => {
      const page = await this.iot.send(new ListThingPrincipalsCommand({ thingName, nextToken }));
      return { items: page.principals ?? [], next: page.nextToken };
    });
  }

  async principalThings(certificateArn: string): Promise<string[]> {
    return this.paged(async (nextToken) => {
      const page = await this.iot.send(
        new ListPrincipalThingsCommand({ principal: certificateArn, nextToken }),
      );
      return { items: page.things ?? [], next: page.nextToken };
    });
  }

  async attachedPolicies(certificateArn: string): Promise<string[]> {
    return this.paged(async (marker) => {
      const page = await this.iot.send(new ListAttachedPoliciesCommand({ target: certificateArn, marker }));
      return { items: (page.policies ?? []).map((p) => p.policyName ?? ''), next: page.nextMarker };
    });
  }

  async policyTargets(policyName: string): Promise<string[]> {
    return this.paged(async (marker) => {
      const page = await this.iot.send(new ListTargetsForPolicyCommand({ policyName, marker }));
      return { items: page.targets ?? [], next: page.nextMarker };
    });
  }

  async policyDocument(policyName: string): Promise<string | undefined> {
    return this.orMissing(
      async () => (await this.iot.send(new GetPolicyCommand({ policyName }))).policyDocument,
    );
  }

  async rule(ruleName: string): Promise<TopicRule | undefined> {
    // A missing topic rule is answered with UnauthorizedException by AWS IoT.
    return this.orMissing(
      async () => (await this.iot.send(new GetTopicRuleCommand({ ruleName }))).rule,
      ['UnauthorizedException'],
    );
  }

  async ruleSql(ruleName: string): Promise<string | undefined> {
    return (await this.rule(ruleName))?.sql;
  }

  async certificatePem(certificateId: string): Promise<string | undefined> {
    return this.orMissing(
      async () =>
        (await this.iot.send(new DescribeCertificateCommand({ certificateId }))).certificateDescription
          ?.certificatePem,
    );
  }

  private async paged(
    page: (token: string | undefined) => Promise<{ items: string[]; next?: string | undefined }>,
  ) {
    const out: string[] = [];
    let token: string | undefined;
    try {
      do {
        const result = await retrying(() => page(token));
        out.push(...result.items.filter(Boolean));
        token = result.next;
      } while (token);
    } catch (error) {
      if (isAwsError(error, 'ResourceNotFoundException')) return [];
      throw error;
    }
    return out;
  }

  private async orMissing<T>(call: () => Promise<T>, alsoMissing: string[] = []): Promise<T | undefined> {
    try {
      return await retrying(call);
    } catch (error) {
      if (isAwsError(error, 'ResourceNotFoundException', ...alsoMissing)) return undefined;
      throw error;
    }
  }
}
