/**
 * The gateway's TLS (clarifications 3): each worker start makes its own self-signed
 * certificate; its sha256 goes into the node record and frontends pin exactly that certificate
 * (no CA, no host name check: the record, read over authenticated NATS, is the trust anchor).
 */
import { X509Certificate, createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { generate } from 'selfsigned';

export interface GatewayCert {
  key: string;
  cert: string;
  /** sha256 of the certificate's DER, lowercase hex. */
  sha256: string;
}

export function certSha256(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

export async function makeGatewayCert(nodeName: string, hosts: string[]): Promise<GatewayCert> {
  const ip = /^[0-9.]+$|:/;
  const altNames = [...new Set(['localhost', '127.0.0.1', ...hosts])].map((h) => (ip.test(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h }));
  // EC keys: generated in milliseconds, where RSA 2048 takes about a second on a busy machine.
  const made = await generate([{ name: 'commonName', value: `loadout-worker ${nodeName}`.slice(0, 64) }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 365 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { key: made.private, cert: made.cert, sha256: certSha256(made.cert) };
}

export function serverCredentials(c: GatewayCert): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(c.key), cert_chain: Buffer.from(c.cert) }], false);
}

/**
 * Credentials that accept only the certificate whose sha256 is `sha256`. `certPem` (from the
 * record) lets TLS build the chain; the pin is what is trusted.
 */
export function pinnedCredentials(certPem: string, sha256: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(certPem), null, null, {
    checkServerIdentity: (_host, cert) => {
      const got = cert.raw ? createHash('sha256').update(cert.raw).digest('hex') : '';
      return got === sha256.toLowerCase() ? undefined : new Error(`the gateway's certificate (sha256 ${got || 'unknown'}) is not the one its node record names (${sha256})`);
    },
  });
}

/**
 * Channel options to use with pinnedCredentials: the TLS server name is a fixed word (the
 * pin, not the name, is checked), since a gateway is usually dialled by IP address.
 */
export const PINNED_CHANNEL_OPTIONS: grpc.ChannelOptions = { 'grpc.ssl_target_name_override': 'loadout-worker', 'grpc.default_authority': 'loadout-worker' };
