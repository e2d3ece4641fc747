/**
 * Where a server listens, read from the kernel's socket table (/proc/net/tcp, tcp6), not by
 * trying to connect from outside, so the answer does not depend on this machine's network.
 */
import { readFileSync } from 'node:fs';

/** Local addresses of the listening TCP sockets on `port` ('127.0.0.1', '0.0.0.0', '::', ...). */
export function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.trim().split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      const [hex, portHex] = (local ?? '').split(':');
      if (state !== '0A' || Number.parseInt(portHex ?? '', 16) !== port || !hex) continue;
      if (hex.length === 8) {
        out.push(Buffer.from(hex, 'hex').reverse().join('.'));
      } else {
        out.push(/^0+$/.test(hex) ? '::' : hex === '00000000000000000000000001000000' ? '::1' : hex);
      }
    }
  }
  return out;
}
