/**
 * A local stand-in for the AWS IoT Core message broker, for the simulator's MQTT transport:
 *
 * - MQTT (aedes) over TLS that REQUIRES a client certificate signed by its CA (`requestCert`,
 *   `rejectUnauthorized`), like the ATS endpoint does for device certificates;
 * - the IoT policies attached to each certificate are evaluated the way AWS IoT does
 *   (iot-policy.ts: Allow/Deny, wildcards, thing variables, IsAttached): `iot:Connect` on
 *   `client/<clientId>` (CONNACK "not authorized" otherwise), `iot:Publish` on `topic/<topic>`
 *   (the connection is dropped otherwise), `iot:Subscribe` on `topicfilter/<filter>` (SUBACK
 *   failure, 0x80, otherwise) and `iot:Receive` on `topic/<topic>` (not delivered otherwise).
 *   Policies, the things the certificate is attached to and their attributes come from moto
 *   (usePoliciesFrom: ListCertificates/DescribeCertificate to find the certificate,
 *   ListAttachedPolicies, GetPolicy, ListPrincipalThings, DescribeThing), read at connect, or
 *   from attachPolicy for certificates moto does not hold;
 * - every accepted publish is recorded with the client id and certificate it came from, every
 *   refusal with its action and resource;
 * - AWS IoT's own services hook in with serveTopic and publishAsService (the Device Shadow
 *   service: shadow-service.ts).
 *
 * Plus a test PKI (@peculiar/x509, ECDSA P-256): a CA, the broker's certificate for
 * localhost/127.0.0.1, and device certificates for given public keys.
 */
import 'reflect-metadata';
import {
  createPrivateKey,
  createPublicKey,
  KeyObject,
  randomBytes,
  webcrypto,
  X509Certificate,
} from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import {
  DescribeCertificateCommand,
  DescribeThingCommand,
  GetPolicyCommand,
  type IoTClient,
  ListAttachedPoliciesCommand,
  ListCertificatesCommand,
  ListPrincipalThingsCommand,
} from '@aws-sdk/client-iot';
import * as x509 from '@peculiar/x509';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { type ConnectionContext, policiesAllow, resourceArn } from './iot-policy.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;

type Keys = webcrypto.CryptoKeyPair;

async function newKeys(): Promise<Keys> {
  return (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as Keys;
}

function keyPem(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

const serial = () => `01${randomBytes(8).toString('hex')}`;
const validity = () => ({
  notBefore: new Date(Date.now() - 60_000),
  notAfter: new Date(Date.now() + 86_400_000),
});

export class TestCa {
  private constructor(
    readonly name: string,
    private readonly keys: Keys,
    readonly certificatePem: string,
  ) {}

  static async create(name = 'CN=solar-iot test root CA'): Promise<TestCa> {
    const keys = await newKeys();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name,
      ...validity(),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new TestCa(name, keys, cert.toString('pem'));
  }

  private async issue(
    subject: string,
    publicKey: webcrypto.CryptoKey | x509.PublicKey,
    extensions: x509.Extension[],
  ): Promise<string> {
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: this.name,
      ...validity(),
      signingAlgorithm: ALG,
      publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
        ...extensions,
      ],
    });
    return cert.toString('pem');
  }

  /** The broker's certificate and key, for localhost and 127.0.0.1. */
  async serverCertificate(): Promise<{ certificatePem: string; privateKeyPem: string }> {
    const keys = await newKeys();
    const certificatePem = await this.issue('CN=localhost', keys.publicKey, [
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    ]);
    return { certificatePem, privateKeyPem: keyPem(keys.privateKey) };
  }

  /** A device (client) certificate for a fresh key. */
  async deviceCertificate(): Promise<{ certificatePem: string; privateKeyPem: string }> {
    const keys = await newKeys();
    return {
      certificatePem: await this.deviceCertificateFor(keys.publicKey),
      privateKeyPem: keyPem(keys.privateKey),
    };
  }

  /** A device certificate for a given public key, e.g. of a CSR (AWS IoT's subject). */
  async deviceCertificateFor(publicKey: webcrypto.CryptoKey | x509.PublicKey): Promise<string> {
    return this.issue('CN=AWS IoT Certificate', publicKey, [
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    ]);
  }

  /** Signs the public key of a PKCS#10 request (what CreateCertificateFromCsr does). */
  async signCsr(csrPem: string): Promise<string> {
    return this.deviceCertificateFor(new x509.Pkcs10CertificateRequest(csrPem).publicKey);
  }
}

/**
 * moto signs the certificate of CreateKeysAndCertificate with the certificate's own key, under the
 * issuer name `C=US, O=Moto, OU=Server CA 1B, CN=Moto`, and publishes no CA. With that key (the
 * one the bundle holds) this builds the CA certificate that would have issued it: the issuer's
 * name, the same public key, CA:true. A broker trusting it verifies moto's certificate for real.
 */
export async function issuerOfSelfIssued(certificatePem: string, privateKeyPem: string): Promise<string> {
  const leaf = new x509.X509Certificate(certificatePem);
  const rsa = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
  const keyObject = createPrivateKey(privateKeyPem);
  const keys = {
    privateKey: await subtle.importKey(
      'pkcs8',
      keyObject.export({ type: 'pkcs8', format: 'der' }),
      rsa,
      false,
      ['sign'],
    ),
    publicKey: await subtle.importKey(
      'spki',
      createPublicKey(keyObject).export({ type: 'spki', format: 'der' }),
      rsa,
      true,
      ['verify'],
    ),
  } as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: leaf.issuerName,
    ...validity(),
    keys,
    signingAlgorithm: rsa,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  return ca.toString('pem');
}

/** Writes a bundle exactly as export-credentials lays it out (device.json + three PEM files). */
export async function writeBundle(
  directory: string,
  device: { plantId: string; clientId: string; endpoint?: string; port?: number },
  pems: { certificatePem: string; privateKeyPem: string; caPem?: string },
): Promise<string> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  await writeFile(join(directory, 'certificate.pem.crt'), pems.certificatePem, { mode: 0o600 });
  await writeFile(join(directory, 'private.pem.key'), pems.privateKeyPem, { mode: 0o600 });
  await writeFile(join(directory, 'AmazonRootCA1.pem'), pems.caPem ?? '', { mode: 0o600 });
  const json = {
    plantId: device.plantId,
    thingName: device.clientId,
    clientId: device.clientId,
    endpoint: device.endpoint ?? 'example-ats.iot.us-east-1.amazonaws.com',
    port: device.port ?? 8883,
    certificateId: 'test',
    files: { certificate: 'certificate.pem.crt', privateKey: 'private.pem.key', rootCa: 'AmazonRootCA1.pem' },
    topics: {
      publishTelemetry: `solar/${device.plantId}/data`,
      subscribeCommands: `solar/${device.plantId}/commands/#`,
    },
  };
  await writeFile(join(directory, 'device.json'), `${JSON.stringify(json, null, 2)}\n`, { mode: 0o600 });
  return directory;
}

/** What AWS IoT knows of a certificate: its policies, and the things it is attached to. */
export interface Principal {
  policies: string[];
  /** The thing of that name with its attributes, when the certificate is attached to it. */
  thing(thingName: string): Promise<ConnectionContext['thing']>;
}

/** An authorized connection: the policies and the context they are evaluated in. */
interface Session {
  policies: string[];
  context: ConnectionContext;
}

/** The principal of a certificate moto holds, read through the IoT API, as AWS IoT reads it. */
async function principalFromMoto(iot: IoTClient, fingerprint: string): Promise<Principal | undefined> {
  const { certificates } = await iot.send(new ListCertificatesCommand({ pageSize: 250 }));
  for (const c of certificates ?? []) {
    const { certificateDescription: d } = await iot.send(
      new DescribeCertificateCommand({ certificateId: c.certificateId }),
    );
    if (!d?.certificatePem || new X509Certificate(d.certificatePem).fingerprint256 !== fingerprint) continue;
    // AWS IoT refuses a certificate that is not ACTIVE at the handshake; here, at connect.
    if (d.status !== 'ACTIVE') return undefined;
    const target = c.certificateArn as string;
    const attached = (await iot.send(new ListAttachedPoliciesCommand({ target }))).policies ?? [];
    const policies = await Promise.all(
      attached.map(
        async (p) =>
          (await iot.send(new GetPolicyCommand({ policyName: p.policyName }))).policyDocument as string,
      ),
    );
    const things = (await iot.send(new ListPrincipalThingsCommand({ principal: target }))).things ?? [];
    return {
      policies,
      thing: async (thingName) => {
        if (!things.includes(thingName)) return undefined;
        const { attributes } = await iot.send(new DescribeThingCommand({ thingName }));
        return { thingName, attributes: attributes ?? {} };
      },
    };
  }
  return undefined;
}

export interface Received {
  clientId: string;
  /** SHA-256 fingerprint of the client certificate the connection was made with. */
  certificate: string;
  topic: string;
  payload: string;
  qos: number;
}

export class TlsBroker {
  readonly received: Received[] = [];
  /** Client ids accepted (CONNACK 0), in order, with their certificate's fingerprint. */
  readonly connects: { clientId: string; certificate: string }[] = [];
  readonly refused: { clientId: string; reason: string }[] = [];
  /** Publish, Subscribe and Receive the policies refused, with the resource asked for. */
  readonly denied: { clientId: string; action: string; resource: string }[] = [];
  /** TLS handshakes the server refused: `<authorizationError>: <error>`. */
  readonly tlsErrors: string[] = [];
  /** Called after each accepted publish (e.g. to drop connections mid-stream). */
  onPublish: ((r: Received) => void) | undefined;
  private readonly attached = new Map<string, Principal>();
  private iot: IoTClient | undefined;
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly sockets = new Set<TLSSocket>();

  private constructor(
    private readonly aedes: Aedes,
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** `trust`: the CA certificates client certificates must chain to (default: `ca`, which also signs the broker's). */
  static async start(ca: TestCa, trust: string[] = [ca.certificatePem]): Promise<TlsBroker> {
    const { certificatePem, privateKeyPem } = await ca.serverCertificate();
    let self: TlsBroker | undefined;
    const fingerprint = (conn: unknown) => (conn as TLSSocket).getPeerCertificate().fingerprint256;
    const aedes = await Aedes.createBroker({
      authenticate: (client, _user, _password, done) => {
        const refuse = (reason: string) => {
          self?.refused.push({ clientId: client.id, reason });
          const error = new Error('not authorized') as AuthenticateError;
          error.returnCode = 5;
          done(error, null);
        };
        const broker = self as TlsBroker;
        broker
          .sessionFor(client.id, fingerprint(client.conn))
          .then((session) => {
            if (!session) return refuse('no policy attached');
            if (
              !policiesAllow(
                session.policies,
                'iot:Connect',
                resourceArn('client', client.id),
                session.context,
              )
            )
              return refuse('iot:Connect denied');
            broker.sessions.set(client, session);
            broker.connects.push({ clientId: client.id, certificate: fingerprint(client.conn) });
            done(null, true);
          })
          .catch((error: unknown) => refuse(`policy lookup failed: ${String(error)}`));
      },
      authorizePublish: (client, packet, callback) => {
        if (client && self?.allows(client, 'iot:Publish', resourceArn('topic', packet.topic))) callback(null);
        else callback(new Error(`iot:Publish denied on ${packet.topic}`));
      },
      authorizeSubscribe: (client, subscription, callback) => {
        const allowed = self?.allows(client, 'iot:Subscribe', resourceArn('topicfilter', subscription.topic));
        // A null subscription is a SUBACK failure (0x80) for this filter; the client stays connected.
        callback(null, allowed ? subscription : null);
      },
      authorizeForward: (client, packet) =>
        self?.allows(client, 'iot:Receive', resourceArn('topic', packet.topic)) ? packet : null,
    });
    aedes.on('publish', (packet, client) => {
      if (!client || !self) return;
      const record: Received = {
        clientId: client.id,
        certificate: fingerprint(client.conn),
        topic: packet.topic,
        payload: Buffer.from(packet.payload).toString('utf8'),
        qos: packet.qos,
      };
      self.received.push(record);
      self.onPublish?.(record);
    });
    const server = createServer(
      {
        key: privateKeyPem,
        cert: certificatePem,
        ca: trust,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => {
        self?.sockets.add(socket);
        socket.on('close', () => self?.sockets.delete(socket));
        aedes.handle(socket);
      },
    );
    // Node verifies the client certificate after the handshake and destroys the socket when it
    // fails; the reason is on the socket (authorizationError), the error itself is a hang-up.
    server.on('tlsClientError', (error, socket) =>
      self?.tlsErrors.push(`${socket.authorizationError ?? 'no verification error'}: ${error.message}`),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    self = new TlsBroker(aedes, server, address.port);
    return self;
  }

  get endpoint(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.port };
  }

  /**
   * Attaches an IoT policy document to a certificate moto does not hold (by fingerprint, as AWS
   * attaches to the principal), with the things it is attached to and their attributes.
   */
  attachPolicy(
    certificatePem: string,
    policyDocument: string,
    things: Record<string, Record<string, string>> = {},
  ): void {
    const fingerprint = new X509Certificate(certificatePem).fingerprint256;
    const previous = this.attached.get(fingerprint)?.policies ?? [];
    this.attached.set(fingerprint, {
      policies: [...previous, policyDocument],
      thing: async (thingName) => {
        const attributes = things[thingName];
        return attributes ? { thingName, attributes } : undefined;
      },
    });
  }

  /** Reads the policies of certificates not attached with attachPolicy from moto, at each connect. */
  usePoliciesFrom(iot: IoTClient): this {
    this.iot = iot;
    return this;
  }

  /** Publishes as AWS IoT's own services do (the shadow service's answers), to subscribers allowed to receive. */
  async publishAsService(topic: string, payload: string): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.aedes.publish(
        { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false },
        (error) => (error ? reject(error) : resolve()),
      ),
    );
  }

  /** Receives, as AWS IoT's own services do, what clients publish on topics matching `filter`. */
  async serveTopic(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void> {
    await new Promise<void>((resolve) =>
      this.aedes.subscribe(
        filter,
        (packet, done) => {
          handler(packet.topic, Buffer.from(packet.payload));
          done();
        },
        resolve,
      ),
    );
  }

  private async sessionFor(clientId: string, fingerprint: string): Promise<Session | undefined> {
    const principal =
      this.attached.get(fingerprint) ??
      (this.iot ? await principalFromMoto(this.iot, fingerprint) : undefined);
    if (!principal || principal.policies.length === 0) return undefined;
    return { policies: principal.policies, context: { clientId, thing: await principal.thing(clientId) } };
  }

  private allows(client: Client, action: string, resource: string): boolean {
    const session = this.sessions.get(client);
    const allowed =
      session !== undefined && policiesAllow(session.policies, action, resource, session.context);
    if (!allowed) this.denied.push({ clientId: client.id, action, resource });
    return allowed;
  }

  /** Cuts every client connection (a network drop, from the device's side indistinguishable). */
  dropConnections(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    return n;
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    await new Promise<void>((r) => this.aedes.close(() => r()));
  }
}

export function fingerprintOf(certificatePem: string): string {
  return new X509Certificate(certificatePem).fingerprint256;
}
