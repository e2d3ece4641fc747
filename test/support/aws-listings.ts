/**
 * Whole AWS IoT listings for the tests' end checks, every page followed (the SDK's paginators):
 * a check that reads one page would miss what is past it on real AWS.
 */
import {
  type Certificate,
  type IoTClient,
  type Policy,
  paginateListCertificates,
  paginateListPolicies,
  paginateListThings,
  paginateListTopicRules,
  type ThingAttribute,
  type TopicRuleListItem,
} from '@aws-sdk/client-iot';

async function collect<P, T>(pages: AsyncIterable<P>, items: (page: P) => T[] | undefined): Promise<T[]> {
  const all: T[] = [];
  for await (const page of pages) all.push(...(items(page) ?? []));
  return all;
}

export const listAllThings = (client: IoTClient): Promise<ThingAttribute[]> =>
  collect(paginateListThings({ client, pageSize: 250 }, {}), (p) => p.things);

export const listAllCertificates = (client: IoTClient): Promise<Certificate[]> =>
  collect(paginateListCertificates({ client, pageSize: 250 }, {}), (p) => p.certificates);

export const listAllPolicies = (client: IoTClient): Promise<Policy[]> =>
  collect(paginateListPolicies({ client, pageSize: 250 }, {}), (p) => p.policies);

export const listAllTopicRules = (client: IoTClient): Promise<TopicRuleListItem[]> =>
  collect(paginateListTopicRules({ client, pageSize: 250 }, {}), (p) => p.rules);
