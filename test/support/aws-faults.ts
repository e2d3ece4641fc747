/**
 * Faults injected into a real AWS SDK client talking to moto: the call still reaches the emulator,
 * and we decide what the caller sees. This is how "AWS did it but the answer was lost" is tested.
 */
import type { IoTClient } from '@aws-sdk/client-iot';

type Fault = 'lose-response' | 'throttle-before' | { hold: Promise<void> };

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
        if (typeof fault === 'object') {
          this.injected.push(`${command}:held`);
          await fault.hold; // a request stuck in the network, reaching AWS only when released
        }
        const result = await next(args);
        if (fault === 'lose-response') {
          this.injected.push(`${command}:${fault}`);
          // AWS has done the work; the caller only sees a dropped connection.
          throw Object.assign(new Error('socket hang up (injected after AWS answered)'), {
            name: 'TimeoutError',
          });
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

  /** Holds the next call of `command` before it reaches AWS, until the returned function is called. */
  holdOnce(command: string): () => void {
    let release: () => void = () => {};
    const hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.pending.set(command, [...(this.pending.get(command) ?? []), { hold }]);
    return release;
  }

  clear(): void {
    this.pending.clear();
    this.injected.length = 0;
  }
}
