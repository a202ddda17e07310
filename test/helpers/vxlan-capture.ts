/**
 * A raw capture (AF_PACKET, python3) on one interface of a namespace: every UDP datagram to
 * the VXLAN port, with the VNI of its VXLAN header and the largest outer IP packet. Stops
 * when `stop()` closes its stdin. The namespace is given by path (used by
 * test/integration/overlay-driver.test.ts and test/e2e/overlay-lab.test.ts).
 */
import { spawn } from 'node:child_process';

const CAPTURE = `
import json, select, socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
port = int(sys.argv[2])
out = {'count': 0, 'vnis': [], 'maxOuter': 0}
sys.stderr.write('ready\\n'); sys.stderr.flush()
while True:
    r, _, _ = select.select([s, sys.stdin], [], [], 1)
    if sys.stdin in r:
        break
    if s not in r:
        continue
    f = s.recv(65535)
    et = struct.unpack('!H', f[12:14])[0]
    if et == 0x0800:
        proto, off, iplen = f[23], 14 + (f[14] & 15) * 4, struct.unpack('!H', f[16:18])[0]
    elif et == 0x86dd:
        proto, off, iplen = f[20], 54, 40 + struct.unpack('!H', f[18:20])[0]
    else:
        continue
    if proto != 17 or struct.unpack('!H', f[off + 2:off + 4])[0] != port:
        continue
    vni = struct.unpack('!I', b'\\0' + f[off + 12:off + 15])[0]
    out['count'] += 1
    out['maxOuter'] = max(out['maxOuter'], iplen)
    if vni not in out['vnis']:
        out['vnis'].append(vni)
print(json.dumps(out))
`;

export interface VxlanCaptured {
  count: number;
  vnis: number[];
  /** The largest outer IP packet seen (bytes). */
  maxOuter: number;
}

export async function captureVxlan(nsPath: string, ifname: string, port = 4789): Promise<{ stop(): Promise<VxlanCaptured> }> {
  const child = spawn('nsenter', [`--net=${nsPath}`, '--', 'python3', '-c', CAPTURE, ifname, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += String(d)));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += String(d);
      if (err.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`capture exited ${code}: ${err}`)));
  });
  return {
    stop: () =>
      new Promise((resolve, reject) => {
        child.removeAllListeners('exit');
        child.on('exit', () => {
          try {
            resolve(JSON.parse(out) as VxlanCaptured);
          } catch {
            reject(new Error(`capture: ${out} ${err}`));
          }
        });
        child.stdin.end();
      }),
  };
}
