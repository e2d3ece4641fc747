/**
 * `solar-iot shadow get | set` and `solar-iot command send`: what reaches a plant's devices, its
 * thing shadow and commands over MQTT.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { InvalidInputError } from '../service/errors.js';
import type { ShadowState } from '../service/shadows.js';
import type { CliContext } from './context.js';

function nonNegativeInt(value: string) {
  if (!/^\d+$/.test(value))
    throw new InvalidArgumentError('must be a whole number (the shadow version you read).');
  return Number(value);
}

function qosOf(value: string): 0 | 1 {
  if (value !== '0' && value !== '1') throw new InvalidArgumentError('must be 0 or 1.');
  return Number(value) as 0 | 1;
}

/** `{"a":1}` as one argument, or `a=1 mode=auto` pairs (values parsed as JSON when they are). */
export function parseState(args: string[]): ShadowState {
  if (args.length === 1 && args[0]?.trim().startsWith('{')) {
    try {
      const parsed = JSON.parse(args[0]) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as ShadowState;
    } catch {
      // reported below
    }
    throw new InvalidInputError(`The state ${JSON.stringify(args[0])} is not a JSON object`);
  }
  const state: ShadowState = {};
  for (const pair of args) {
    const at = pair.indexOf('=');
    if (at < 1)
      throw new InvalidInputError(`Expected key=value or one JSON object, got ${JSON.stringify(pair)}`);
    const raw = pair.slice(at + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    state[pair.slice(0, at)] = value;
  }
  return state;
}

function parseParams(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidInputError(`The command parameters ${JSON.stringify(text)} are not JSON`);
  }
}

export function addShadowCommands(program: Command, { session, out }: CliContext): void {
  const shadow = program.command('shadow').description("read and set a plant's thing shadow");
  shadow
    .command('get')
    .argument('<id>', 'plant id')
    .option('--name <shadow>', 'named shadow (default: the classic shadow)')
    .action(async (id: string, opts: { name?: string }) => {
      const iot = await session.open();
      const doc = await iot.getThingShadow(id, { shadowName: opts.name });
      out().result(doc, () =>
        [
          `${doc.thingName}${doc.shadowName ? ` / ${doc.shadowName}` : ''}  version ${doc.version}`,
          JSON.stringify(doc.state, null, 2),
        ].join('\n'),
      );
    });
  shadow
    .command('set')
    .description('merge a desired state: one JSON object, or key=value pairs (null removes a key)')
    .argument('<id>', 'plant id')
    .argument('<state...>', '\'{"powerLimit":1000}\' or powerLimit=1000 mode=auto')
    .option('--name <shadow>', 'named shadow')
    .option('--version <n>', 'apply only if the shadow is still at this version', nonNegativeInt)
    .action(async (id: string, state: string[], opts: { name?: string; version?: number }) => {
      const iot = await session.open();
      const doc = await iot.updateThingShadow(id, parseState(state), {
        shadowName: opts.name,
        version: opts.version,
      });
      out().result(
        doc,
        () => `Shadow of ${id}${doc.shadowName ? ` (${doc.shadowName})` : ''} now at version ${doc.version}.`,
      );
    });
}

export function addDeviceCommandCommands(program: Command, { session, out }: CliContext): void {
  program
    .command('command')
    .description("send commands to a plant's devices")
    .command('send')
    .argument('<id>', 'plant id')
    .argument('<command>', 'command name, e.g. restart')
    .argument('[params]', 'JSON parameters, e.g. \'{"delaySeconds":5}\'')
    .option('--qos <qos>', 'MQTT QoS, 0 or 1', qosOf, 1 as 0 | 1)
    .action(async (id: string, command: string, params: string | undefined, opts: { qos: 0 | 1 }) => {
      const iot = await session.open();
      const sent = await iot.publishCommand(id, command, parseParams(params), { qos: opts.qos });
      out().result(sent, () => `Published ${command} to ${sent.topic} (commandId ${sent.commandId}).`);
    });
}
