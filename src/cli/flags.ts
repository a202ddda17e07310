/**
 * Flag parsing on top of node's util.parseArgs, with the three habits of docker's CLI
 * (spf13/pflag) that parseArgs lacks:
 *  - `--flag=true|false` for boolean flags (`--ipv6=false`);
 *  - for `run` and `exec`, flags end at the command: `run -d --name x sleep 10` leaves
 *    `sleep 10` alone, as pflag's SetInterspersed(false) does;
 *  - short errors in docker's words ("unknown flag: --foo").
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { invalid } from '../errors.js';
import { parseGoBool } from '../model/go-syntax.js';

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in --help. */
  help: string;
  /** Name of the value in --help, e.g. CIDR. */
  value?: string;
  /** Other long names accepted for the same flag (docker's `--net` for `--network`). */
  aliases?: string[];
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface ParsedFlags {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Tokens after the command boundary (run/exec), untouched. */
  rest: string[];
  /** Boolean flags given explicitly (as true or false): docker sends some fields only then. */
  explicit: Set<string>;
}

export interface ParseFlagsOptions {
  /** The command starts after this many positionals (or after `--`); undefined = no command. */
  positionalsBeforeCommand?: number;
}

export function parseFlags(args: readonly string[], specs: FlagSpecs, options: ParseFlagsOptions = {}): ParsedFlags {
  const canonical = aliasMap(specs);
  let head = [...args];
  let rest: string[] = [];
  if (options.positionalsBeforeCommand !== undefined) {
    ({ head, rest } = splitAtCommand(args, specs, canonical, options.positionalsBeforeCommand));
  }

  const explicit = new Set<string>();
  const negated = new Set<string>();
  const tokens: string[] = [];
  let afterDashDash = false;
  for (const token of head) {
    if (afterDashDash || !token.startsWith('--')) {
      if (token === '--') afterDashDash = true;
      tokens.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const rawName = token.slice(2, eq < 0 ? undefined : eq);
    const name = canonical.get(rawName);
    if (name === undefined) throw invalid('UNKNOWN_FLAG', `unknown flag: --${rawName}`, rawName);
    const spec = specs[name]!;
    if (spec.type === 'boolean') {
      explicit.add(name);
      if (eq >= 0) {
        const value = parseGoBool(token.slice(eq + 1));
        if (value === undefined) {
          throw invalid('BAD_FLAG_VALUE', `invalid argument "${token.slice(eq + 1)}" for "--${rawName}": expected true or false`, name);
        }
        if (!value) {
          negated.add(name);
          continue;
        }
      }
      tokens.push(`--${name}`);
      continue;
    }
    tokens.push(eq < 0 ? `--${name}` : `--${name}${token.slice(eq)}`);
  }

  const config: ParseArgsConfig = {
    args: tokens,
    strict: true,
    allowPositionals: true,
    options: Object.fromEntries(
      Object.entries(specs).map(([name, spec]) => [
        name,
        { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) },
      ]),
    ),
  };
  let parsed;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    throw flagError(err as Error & { code?: string }, specs);
  }
  const values = { ...(parsed.values as ParsedFlags['values']) };
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.type === 'boolean' && values[name] === true) explicit.add(name);
    if (negated.has(name)) values[name] = false;
  }
  return { values, positionals: parsed.positionals, rest, explicit };
}

function aliasMap(specs: FlagSpecs): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    map.set(name, name);
    for (const alias of spec.aliases ?? []) map.set(alias, name);
  }
  return map;
}

/**
 * Splits `[flags] NAME… [--] COMMAND…` at the command: the first positional beyond
 * `before`, or what follows `--`. Flags that take a value consume the next token.
 */
function splitAtCommand(
  args: readonly string[],
  specs: FlagSpecs,
  canonical: Map<string, string>,
  before: number,
): { head: string[]; rest: string[] } {
  const shortTakesValue = new Map<string, boolean>();
  for (const spec of Object.values(specs)) if (spec.short) shortTakesValue.set(spec.short, spec.type === 'string');
  const head: string[] = [];
  let positionals = 0;
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!;
    if (token === '--') {
      const after = args.slice(i + 1);
      const missing = Math.max(0, before - positionals);
      head.push(...after.slice(0, missing));
      return { head, rest: after.slice(missing) };
    }
    if (token.startsWith('--')) {
      head.push(token);
      const spec = specs[canonical.get(token.slice(2)) ?? ''];
      if (!token.includes('=') && spec?.type === 'string' && i + 1 < args.length) head.push(args[++i]!);
      continue;
    }
    if (token.startsWith('-') && token.length > 1) {
      head.push(token);
      // -it, -dp 80:80, -p80:80: the first letter that takes a value takes the rest or the next token.
      for (let c = 1; c < token.length; c++) {
        if (shortTakesValue.get(token[c]!)) {
          if (c === token.length - 1 && i + 1 < args.length) head.push(args[++i]!);
          break;
        }
      }
      continue;
    }
    if (positionals < before) {
      head.push(token);
      positionals++;
      continue;
    }
    return { head, rest: args.slice(i) };
  }
  return { head, rest: [] };
}

/** parseArgs' messages are long and mention JavaScript; say it the way docker does. */
function flagError(err: Error & { code?: string }, specs: FlagSpecs): Error {
  const named = /'(-{1,2}[^'\s,]+)/.exec(err.message)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return invalid('UNKNOWN_FLAG', `unknown ${named.startsWith('--') ? 'flag' : 'shorthand flag'}: ${named}`, named);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = longNameOf(named, specs);
      if (specs[name]?.type === 'boolean') {
        return invalid('BAD_FLAG_VALUE', `flag --${name} takes no value`, name);
      }
      return invalid('MISSING_FLAG_VALUE', `flag needs an argument: --${name}`, name);
    }
    default:
      return invalid('BAD_FLAGS', err.message, 'args');
  }
}

function longNameOf(named: string, specs: FlagSpecs): string {
  const bare = named.replace(/^-+/, '');
  if (named.startsWith('--')) return bare;
  for (const [name, spec] of Object.entries(specs)) if (spec.short === bare) return name;
  return bare;
}

/** Renders the flags part of a command's --help. */
export function flagsHelp(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const short = spec.short ? `-${spec.short}, ` : '    ';
    const value = spec.type === 'string' ? ` ${spec.value ?? 'string'}` : '';
    return [`  ${short}--${name}${value}`, spec.help + (spec.multiple ? ' (repeatable)' : '')];
  });
  const width = Math.max(0, ...rows.map(([left]) => left!.length)) + 3;
  return rows.map(([left, help]) => left!.padEnd(width) + help).join('\n');
}
