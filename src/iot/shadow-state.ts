/**
 * AWS IoT's Device Shadow state rules
 * (https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-document.html), shared by
 * mock mode's shadows, the simulator's device and the test broker's shadow service.
 */
type State = Record<string, unknown>;

export function isStateObject(v: unknown): v is State {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An update applied to a state: only the keys it names change, `null` removes one, arrays are replaced. */
export function mergeShadowState(target: State, patch: State): State {
  const out: State = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isStateObject(v) && isStateObject(out[k])) out[k] = mergeShadowState(out[k] as State, v);
    else out[k] = v;
  }
  return out;
}

/**
 * The delta: every desired key whose value differs from the reported one (or is not reported),
 * nested objects compared key by key down to the differing leaves, arrays and other values as a
 * whole; reported keys with no desired counterpart are not in it.
 */
export function shadowDelta(desired: State, reported: State): State {
  const out: State = {};
  for (const [k, v] of Object.entries(desired)) {
    if (isStateObject(v) && isStateObject(reported[k])) {
      const inner = shadowDelta(v, reported[k] as State);
      if (Object.keys(inner).length) out[k] = inner;
    } else if (JSON.stringify(v) !== JSON.stringify(reported[k])) out[k] = v;
  }
  return out;
}

/** `$aws/things/<thing>/shadow` (classic) or `.../shadow/name/<shadowName>`: the MQTT topics' prefix. */
export function shadowTopicPrefix(thingName: string, shadowName?: string): string {
  return `$aws/things/${thingName}/shadow${shadowName ? `/name/${shadowName}` : ''}`;
}
