/**
 * The API's optional TCP listener, served only with mutual TLS (dockerd's `--tlsverify`):
 * the API can start processes as root on the host, so a client must present a
 * certificate signed by the configured CA before a single HTTP byte is read.
 * `requestCert` + `rejectUnauthorized` make Node's TLS layer end the handshake for a
 * client without a certificate or with one from another CA (node:tls "tls.createServer").
 */
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalid } from '../errors.js';
import type { ConnectionLimits } from './server.js';

export interface MutualTlsFiles {
  /** PEM file of the CA that signs client certificates (--tlscacert). */
  caFile: string;
  /** PEM certificate of the server (--tlscert). */
  certFile: string;
  /** PEM private key of the server (--tlskey). */
  keyFile: string;
}

export interface TcpAddress {
  host: string;
  port: number;
}

function readPem(file: string, field: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw invalid('TLS_FILE_UNREADABLE', `cannot read ${field} ${file}: ${(err as Error).message}`, field);
  }
}

/** An HTTPS server that accepts only clients with a certificate from the CA. */
export function createMutualTlsServer(
  files: MutualTlsFiles,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  limits?: ConnectionLimits,
): Server {
  const options = {
    // security (M10): half-finished handshakes are cut after 10 s (Node's default is 120 s),
    // slow headers as on the unix socket, and at most maxConnections are open.
    ...(limits ? { ...limits.http, handshakeTimeout: limits.handshakeTimeoutMs } : { handshakeTimeout: 10_000 }),
    ca: readPem(files.caFile, '--tlscacert'),
    cert: readPem(files.certFile, '--tlscert'),
    key: readPem(files.keyFile, '--tlskey'),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2' as const,
    keepAliveTimeout: 5_000,
  };
  try {
    const server = createServer(options, handler);
    // Connection cap and header deadline: server.ts guardConnections, on 'secureConnection';
    // a TLS handshake itself is bounded by handshakeTimeout. Raw TCP connections still in
    // their handshake are capped here.
    server.maxConnections = (limits?.maxConnections ?? 1024) * 2;
    // A failed handshake (no certificate, timeout) only closes that connection.
    server.on('tlsClientError', (_err, socket) => socket.destroy());
    return server;
  } catch (err) {
    throw invalid('TLS_BAD_FILES', `the TLS certificate, key or CA is not usable: ${(err as Error).message}`, '--tlscert');
  }
}

/** Listens on the address; resolves with the port actually bound (0 = any). */
export function listenTcp(server: Server, at: TcpAddress): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : at.port);
    });
  });
}
