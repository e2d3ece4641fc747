/**
 * What a second look as an attacker found in the checks of issue 13 (0a70843): rule SQL that hides
 * a call from the allow-list behind quoting the checker did not know, and Host/Origin matching
 * that mixed up default ports or missed an IPv6 listen address. Pure functions, no stack needed.
 */
import { describe, expect, it } from 'vitest';
import { hostServed, originServed } from '../../src/api/browser-guard.js';
import { validateRuleSql } from '../../src/service/rule-sql.js';

const plantId = '11111111-1111-4111-8111-111111111111';
const topic = `'solar/${plantId}/data'`;

describe('rule SQL allow-list against quoting tricks', () => {
  it('refuses a call hidden from the checker by double quotes, backticks or backslash escapes', () => {
    for (const sql of [
      // The engine quotes names with "..." or `...`: the ' inside is no string delimiter there.
      `SELECT "'" AS q, aws_lambda('arn:aws:lambda:us-east-1:1:function:x', *) AS x, "'" AS r FROM ${topic}`,
      `SELECT \`'\` AS q, get_secret('s', 'SecretString', 'arn:aws:iam::1:role/r') AS x, \`'\` AS r FROM ${topic}`,
      // With \' as an escape the engine's literal ends later than the checker's.
      `SELECT 'a\\' , ' , aws_lambda(' AS x, '', *) AS y, '' AS z FROM ${topic}`,
    ]) {
      expect(() => validateRuleSql(sql, plantId), sql).toThrow(/Rule SQL refused/);
    }
  });

  it('reads the topic from the FROM the engine sees, not from text inside a quoted name or string', () => {
    for (const sql of [
      `SELECT "x FROM ${topic} WHERE " AS c FROM 'other/#'`,
      `SELECT * FROM ${topic} WHERE a = 'x' FROM 'other/#'`,
    ]) {
      expect(() => validateRuleSql(sql, plantId), sql).toThrow(/Rule SQL refused/);
    }
  });

  it('still accepts plain rules, doubled quotes and calls spelled inside string literals', () => {
    for (const sql of [
      `SELECT *, topic(2) AS plantId FROM ${topic} WHERE abs(temperature) > 50`,
      `SELECT * FROM ${topic} WHERE note = 'it''s aws_lambda(x) -- not code'`,
      `SELECT * FROM 'solar/+/telemetry/#' WHERE startswith(topic(), 'solar/')`,
    ]) {
      expect(validateRuleSql(sql).sql, sql).toBe(sql);
    }
    expect(validateRuleSql(`SELECT * FROM ${topic}`).topicFilter).toBe(`solar/${plantId}/data`);
  });
});

describe('Host and Origin matching', () => {
  const rules = { allowedHosts: [] };

  it('an https Origin without a port is port 443, not the http default 80', () => {
    expect(originServed('http://localhost', 80, rules)).toBe(true);
    expect(originServed('https://localhost', 80, rules)).toBe(false);
    expect(originServed('https://localhost', 443, rules)).toBe(true);
    expect(originServed('http://localhost', 443, rules)).toBe(false);
  });

  it('a specific IPv6 API_HOST is served under its bracketed Host form', () => {
    const listen = { allowedHosts: [], listenHost: 'fd00::5' };
    expect(hostServed('[fd00::5]:3000', 3000, listen)).toBe(true);
    expect(hostServed('[FD00::5]:3000', 3000, listen)).toBe(true);
    expect(hostServed('[fd00::6]:3000', 3000, listen)).toBe(false);
    expect(hostServed('[fd00::5]:3001', 3000, listen)).toBe(false);
  });
});
