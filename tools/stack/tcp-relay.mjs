#!/usr/bin/env node
// Thin TCP relay used as the Temporal SDK's `existing-path` time-skipping test server:
//   tcp-relay.mjs <target-host:port> <listen-port> [ignored test-server flags...]
// The SDK starts it with the port it chose, waits for that port to answer, and kills it when the
// test environment is torn down. Plain JavaScript so it starts in ~50 ms (no TypeScript loader).
import net from 'node:net';

const [target, listenPort] = process.argv.slice(2);
const sep = target?.lastIndexOf(':') ?? -1;
if (!target || sep < 0 || !listenPort) {
  console.error('usage: tcp-relay.mjs <target-host:port> <listen-port>');
  process.exit(2);
}
const targetHost = target.slice(0, sep);
const targetPort = Number(target.slice(sep + 1));

const server = net.createServer((client) => {
  const upstream = net.connect({ host: targetHost, port: targetPort });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.on('error', (err) => {
  console.error(`tcp-relay: ${err.message}`);
  process.exit(1);
});
// The SDK connects to 127.0.0.1:<port>.
server.listen(Number(listenPort), '127.0.0.1');

// Never outlive the process that started us (e.g. a test worker that crashed).
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
