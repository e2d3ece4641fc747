/**
 * Faults injected into a real AWS SDK client talking to moto: the call still reaches the emulator,
 * and we decide what the caller sees. This is how "AWS did it but the answer was lost" is tested.
 */
import type { IoTClient } from '@aws-sdk/client-iot';

type Fault = 'lose-response' | 'throttle-before';

export class AwsFaults {
  private readonly pending = new Map<string, Fault[]>();
  readonly injected: string[] = [];

  constructor(client: IoTClient) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = String(context.commandName ?? '');
        const fault = this.pending.get(command)?.shift();
        if (fault === 'throttle-before') {
          this.injected.push(`${command}:${fault}`);
          throw Object.assign(new Error('Rate exceeded (injected)'), {
            name: 'ThrottlingException',
            $metadata: { httpStatusCode: 400 },
          });
        }
        const result = await next(args);
        if (fault === 'lose-response') {
          this.injected.push(`${command}:${fault}`);
          // AWS has done the work; the caller only sees a dropped connection.
          throw Object.assign(new Error('socket hang up (injected after AWS answered)'), { name: 'TimeoutError' });
        }
        return result;
      },
      { step: 'initialize', name: 'testFaultInjection' },
    );
  }

  /** The next call of `command` (e.g. 'CreateCertificateFromCsrCommand') suffers `fault`. */
  once(command: string, fault: Fault): void {
    this.pending.set(command, [...(this.pending.get(command) ?? []), fault]);
  }

  clear(): void {
    this.pending.clear();
    this.injected.length = 0;
  }
}
