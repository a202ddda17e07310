/**
 * argv → a command plan: which command, with which flags, against which daemon. Pure (the
 * environment is passed in), so every flag of docs/CLI.md is unit-tested without a
 * daemon. Running a plan is the job of the *-commands.ts modules.
 */
import type { EndpointSettingsRequest, SandboxCreateRequest } from '../api/docker/types.js';
import { invalid } from '../errors.js';
import { DEFAULT_HOST, socketPathOf } from '../api/host.js';
import type { NetworkCreateRequest } from './network-create-request.js';
import { parseFlags, type FlagSpecs, type ParsedFlags } from './flags.js';
import { COMMANDS, commandKey, type CommandSpec } from './command-specs.js';

export type Command =
  | { name: 'help'; topic: string }
  | { name: 'version'; format?: string }
  | { name: 'info'; format?: string }
  | { name: 'daemon'; args: string[] }
  | { name: 'network create'; request: NetworkCreateRequest }
  | { name: 'network ls'; quiet: boolean; filters: string[]; format?: string; noTrunc: boolean }
  | { name: 'network inspect'; refs: string[]; format?: string; verbose?: boolean }
  | { name: 'network rm'; refs: string[]; force: boolean }
  | { name: 'network prune'; force: boolean; filters: string[] }
  | { name: 'network connect'; network: string; sandbox: string; endpoint: EndpointSettingsRequest }
  | { name: 'network disconnect'; network: string; sandbox: string; force: boolean }
  | { name: 'run'; detach: boolean; request: SandboxCreateRequest; removeAfter: boolean }
  | { name: 'ps'; all: boolean; quiet: boolean; format?: string; noTrunc: boolean }
  | { name: 'inspect'; refs: string[]; format?: string; type?: 'sandbox' | 'network' }
  | { name: 'exec'; sandbox: string; cmd: string[]; interactive: boolean; tty: boolean; env: string[] }
  | { name: 'logs'; sandbox: string; follow: boolean }
  | { name: 'stop'; refs: string[]; timeout?: number }
  | { name: 'start'; refs: string[] }
  | { name: 'rm'; refs: string[]; force: boolean }
  | { name: 'port'; sandbox: string; privatePort?: string }
  | { name: 'rename'; sandbox: string; newName: string }
  | { name: 'firewall reload' }
  | { name: 'node ls'; format?: string }
  | { name: 'node inspect'; refs: string[]; format?: string }
  | { name: 'node rm'; refs: string[]; force: boolean }
  | { name: 'system reset'; force: boolean; dataRoot: string; execRoot: string };

export interface Plan {
  /** unix:///path.sock */
  host: string;
  command: Command;
}

export interface ParseContext {
  env: Record<string, string | undefined>;
}

/** Parses the whole command line; throws `invalid` (exit status 2) for usage errors. */
export function parseCommandLine(argv: readonly string[], context: ParseContext): Plan {
  const { host, hostFlag, rest } = parseGlobalFlags(argv, context);
  if (rest.length === 0) return { host, command: { name: 'help', topic: '' } };

  const [word, ...args] = rest as [string, ...string[]];
  if (word === 'daemon') {
    // `switchyard -H unix:///x.sock daemon` means the daemon should listen there.
    const ownHost = args.some((a) => a === '-H' || a === '--host' || a.startsWith('--host=') || /^-H./.test(a));
    return { host, command: { name: 'daemon', args: hostFlag !== undefined && !ownHost ? ['--host', hostFlag, ...args] : args } };
  }

  // Two-word commands (network …, firewall …) are looked up by their first word.
  let key = word;
  let commandArgs = args;
  if (COMMANDS[word] === undefined && isGroup(word)) {
    const sub = args[0];
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      return { host, command: { name: 'help', topic: word } };
    }
    key = commandKey(word, sub);
    commandArgs = args.slice(1);
    if (COMMANDS[key] === undefined) throw usage(`unknown command "${word} ${sub}"`, word);
  } else if (word === 'help') {
    return { host, command: { name: 'help', topic: args.join(' ') } };
  }
  const spec = COMMANDS[key];
  if (spec === undefined) throw usage(`unknown command "${word}"`, '');

  const flags = parseFlags(commandArgs, withHelp(spec.flags), spec.command ? { positionalsBeforeCommand: spec.command.before } : {});
  if (flags.values['help'] === true) return { host, command: { name: 'help', topic: key } };
  checkArgCount(key, spec, flags);
  return { host, command: spec.build(flags, context) };
}

const GROUPS = new Set(Object.keys(COMMANDS).filter((k) => k.includes(' ')).map((k) => k.split(' ')[0]!));
const isGroup = (word: string): boolean => GROUPS.has(word);

function parseGlobalFlags(
  argv: readonly string[],
  context: ParseContext,
): { host: string; hostFlag: string | undefined; rest: string[] } {
  let hostFlag: string | undefined;
  const hostOf = (): string => hostFlag ?? (context.env['SWITCHYARD_HOST'] || DEFAULT_HOST);
  let i = 0;
  for (; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-') || token === '-') break;
    if (token === '-H' || token === '--host') {
      const value = argv[++i];
      if (value === undefined) throw usage('flag needs an argument: --host', '');
      hostFlag = value;
    } else if (token.startsWith('--host=')) {
      hostFlag = token.slice('--host='.length);
    } else if (token.startsWith('-H')) {
      hostFlag = token.slice(2).replace(/^=/, '');
    } else if (token === '-h' || token === '--help') {
      return { host: hostOf(), hostFlag, rest: [] };
    } else if (token === '-v' || token === '--version') {
      return { host: hostOf(), hostFlag, rest: ['version'] };
    } else {
      throw usage(`unknown flag: ${token}`, '');
    }
  }
  const host = hostOf();
  socketPathOf(host); // fail early, naming the flag, on a host we cannot use
  return { host, hostFlag, rest: argv.slice(i) };
}

function withHelp(flags: FlagSpecs): FlagSpecs {
  const shortTaken = Object.values(flags).some((f) => f.short === 'h');
  return { ...flags, help: { type: 'boolean', ...(shortTaken ? {} : { short: 'h' }), help: 'Print usage' } };
}

function checkArgCount(key: string, spec: CommandSpec, flags: ParsedFlags): void {
  const n = flags.positionals.length;
  const { min, max } = spec.args;
  if (n < min || (max !== undefined && n > max)) {
    const want =
      max === min ? `exactly ${min} argument${min === 1 ? '' : 's'}` : max === undefined ? `at least ${min} argument${min === 1 ? '' : 's'}` : `${min} to ${max} arguments`;
    throw usage(`"switchyard ${key}" requires ${want} (usage: switchyard ${key} ${spec.usage})`, key);
  }
  if (spec.command && flags.rest.length === 0) {
    throw usage(`"switchyard ${key}" requires a command to run (usage: switchyard ${key} ${spec.usage})`, key);
  }
}

function usage(message: string, topic: string): Error {
  return invalid('USAGE', topic ? `${message}. See 'switchyard ${topic} --help'` : `${message}. See 'switchyard --help'`, 'args');
}
