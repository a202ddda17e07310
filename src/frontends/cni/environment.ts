/** The CNI_* environment variables of one plugin call, parsed and checked (errors are code 4). */
import { CNI_CODE, CniError } from './cni-error.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type CniCommand = (typeof COMMANDS)[number];

export interface CniEnvironment {
  command: CniCommand;
  containerId: string;
  /** Empty when not given (allowed for DEL). */
  netns: string;
  ifname: string;
  args: Record<string, string>;
  path: string[];
}

/** Which variables each command needs (CNI_NETNS is optional for DEL by the spec). */
const REQUIRED: Record<CniCommand, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  STATUS: ['CNI_PATH'],
  GC: ['CNI_PATH'],
  VERSION: [],
};

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Linux interface-name rules: 1-15 bytes, not "." or "..", no '/', ':' or white space. */
export function ifnameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > 15) return 'is longer than 15 bytes';
  if (name === '.' || name === '..') return 'is "." or ".."';
  if (/[/:\s]/.test(name)) return 'contains "/", ":" or white space';
  return undefined;
}

/** CNI_ARGS: "KEY=VALUE;KEY2=VALUE2". */
export function parseCniArgs(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CNI_CODE.invalidEnvironment, `invalid CNI_ARGS pair "${pair}"`, 'expected KEY=VALUE pairs separated by ";"');
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

export function parseEnvironment(env: Record<string, string | undefined>): CniEnvironment {
  const raw = env['CNI_COMMAND'];
  if (!raw) throw new CniError(CNI_CODE.invalidEnvironment, 'required environment variable CNI_COMMAND is missing');
  if (!(COMMANDS as readonly string[]).includes(raw)) {
    throw new CniError(CNI_CODE.invalidEnvironment, `unknown CNI_COMMAND "${raw}"`, `expected one of ${COMMANDS.join(', ')}`);
  }
  const command = raw as CniCommand;
  const missing = REQUIRED[command].filter((k) => !env[k]);
  if (missing.length) {
    throw new CniError(CNI_CODE.invalidEnvironment, `required environment variables missing: ${missing.join(', ')}`, `${command} needs ${REQUIRED[command].join(', ')}`);
  }
  const containerId = env['CNI_CONTAINERID'] ?? '';
  if (containerId && !CONTAINER_ID.test(containerId)) {
    throw new CniError(CNI_CODE.invalidEnvironment, `invalid CNI_CONTAINERID "${containerId}"`, 'expected letters, digits, "_", "." or "-", starting with a letter or digit');
  }
  const ifname = env['CNI_IFNAME'] ?? '';
  const bad = ifname ? ifnameProblem(ifname) : undefined;
  if (bad) throw new CniError(CNI_CODE.invalidEnvironment, `invalid CNI_IFNAME "${ifname}": it ${bad}`);
  return {
    command,
    containerId,
    netns: env['CNI_NETNS'] ?? '',
    ifname,
    args: parseCniArgs(env['CNI_ARGS'] ?? ''),
    path: (env['CNI_PATH'] ?? '').split(':').filter(Boolean),
  };
}
