/**
 * How deeply a JSON value nests, measured without recursion: a body nested 100,000 levels parses
 * fine (JSON.parse is iterative) but overflows the stack of anything recursive after it
 * (JSON.stringify, validators, loggers), so depth is checked first, with a loop.
 */

/** Objects and arrays count one level each: `{"a": 1}` is 1, `{"a": {"b": [1]}}` is 3. */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === 'object' && child !== null) pending.push([child, depth + 1]);
    }
  }
  return false;
}
