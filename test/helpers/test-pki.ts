/**
 * A throwaway PKI for tests of TLS listeners and clients (etcd over TLS, the API's mutual-TLS
 * listener): a CA, a server certificate for 127.0.0.1 and a client certificate, made by the
 * openssl command in a directory the caller owns and removes.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A throwaway CA with a server certificate (IP 127.0.0.1) and a client certificate, as PEM files. */
export interface TestPki {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

/** Makes a CA, a server and a client certificate (ECDSA P-256, 1 day) with openssl in `dir`. */
export function makeTestPki(dir: string): TestPki {
  fs.mkdirSync(dir, { recursive: true });
  const f = (name: string) => path.join(dir, name);
  const ssl = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const key = (name: string) => ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f(name)]);
  key('ca.key');
  ssl(['req', '-x509', '-new', '-key', f('ca.key'), '-subj', '/CN=swy-test-ca', '-days', '1', '-out', f('ca.pem')]);
  const issue = (name: string, ext: string) => {
    key(`${name}.key`);
    ssl(['req', '-new', '-key', f(`${name}.key`), '-subj', `/CN=swy-${name}`, '-out', f(`${name}.csr`)]);
    fs.writeFileSync(f(`${name}.ext`), ext);
    ssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`)]);
  };
  issue('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  issue('client', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    caFile: f('ca.pem'),
    serverCertFile: f('server.pem'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.pem'),
    clientKeyFile: f('client.key'),
  };
}
