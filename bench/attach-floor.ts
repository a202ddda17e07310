/**
 * The floor under a global attach on this lab: what a daemon built on etcd could not go below
 * however little else it did. A bare HTTP server on a Unix socket, run in host 0's namespace,
 * answers each POST after ONE etcd txn of an attach's shape (bench/attach-txn.ts), sent
 * through the daemon's own client (src/store/etcd-store.ts) to the lab's etcd, with its keys
 * inside the prefix every daemon watches (as an attach's are, so every daemon wakes). No
 * engine, no plan, no kernel work, no naming: the client's request, the txn, the answer.
 * bench/cluster.ts times a POST to it in the same rounds as the attach, after the same
 * untimed pause.
 *
 *   node dist/bench/attach-floor.js --serve --socket PATH --endpoint http://A:2379
 *
 * prints `ready` once it listens; each txn's keys are deleted after its answer (untimed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { openEtcdStore } from '../src/store/etcd-store.js';
import { attachShapedTxn, undoAttachShapedTxn } from './attach-txn.js';

/** The server: one txn per request; the undo after the answer. */
async function serve(socket: string, endpoint: string): Promise<void> {
  const store = await openEtcdStore({ endpoints: [endpoint], prefix: '/switchyard/v1/probe' });
  const net = `/networks/${randomBytes(8).toString('hex')}`;
  await store.put(net, '{}');
  let i = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const { txn, keys } = attachShapedTxn(net, i++);
      store.txn(txn).then(
        (r) => {
          res.writeHead(r.succeeded ? 200 : 409).end();
          setImmediate(() => void undoAttachShapedTxn(store, keys).catch(() => undefined));
        },
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
  });
  const stop = () => {
    server.close();
    void store
      .deletePrefix('/')
      .catch(() => undefined)
      .finally(() => void store.close().finally(() => process.exit(0)));
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop); // the bench went away
  process.stdin.resume();
  fs.rmSync(socket, { force: true });
  server.listen(socket, () => process.stdout.write('ready\n'));
}

export interface AttachFloor {
  pid: number;
  /** One request (its txn included); resolves when answered, rejects on anything but 200. */
  post(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the server (in the namespace at `nsPath` when given: nsenter execs it, so the PID is its own) and connects to it. */
export async function startAttachFloor(nsPath: string | undefined, etcdEndpoint: string, socket: string): Promise<AttachFloor> {
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'attach-floor.js');
  const args = [script, '--serve', '--socket', socket, '--endpoint', etcdEndpoint];
  const child: ChildProcess = nsPath
    ? spawn('nsenter', [`--net=${nsPath}`, '--', process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('attach floor server: no "ready" within 20 s')), 20_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`attach floor server exited (${code})`));
    });
  });
  const agent = new Agent({ keepAlive: true });
  return {
    pid: child.pid!,
    post: () =>
      new Promise<void>((resolve, reject) => {
        const req = request({ socketPath: socket, agent, method: 'POST', path: '/txn', headers: { 'Content-Type': 'application/json', 'Content-Length': '2' } }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`attach floor: HTTP ${res.statusCode}`))));
        });
        req.on('error', reject);
        req.end('{}');
      }),
    close: async () => {
      agent.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.stdin!.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(socket, { force: true });
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { serve: { type: 'boolean', default: false }, socket: { type: 'string' }, endpoint: { type: 'string' } } });
  if (!values.serve || !values.socket || !values.endpoint) throw new Error('usage: attach-floor.js --serve --socket PATH --endpoint URL');
  await serve(values.socket, values.endpoint);
}
