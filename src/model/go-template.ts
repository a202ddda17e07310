/**
 * A small renderer for the Go text/template subset that `--format` strings use in the
 * docker CLI: fields (`{{.Name}}`, `{{.IPAM.Driver}}`), `{{json .}}`, functions with
 * arguments and pipes, variables, `{{range}}`/`{{if}}`/`{{else}}`/`{{end}}`, trim markers,
 * and docker's `table` prefix with its tabwriter alignment (cli/command/formatter).
 */
import { invalid } from '../errors.js';

// ---------------------------------------------------------------------------------------
// Syntax tree

type Term =
  | { kind: 'field'; base: 'dot' | string; path: string[] } // base: 'dot' or a variable name ('$' included)
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'nil' }
  | { kind: 'call'; name: string }
  | { kind: 'paren'; pipeline: Pipeline; path: string[] };

/** Marks a field chain token that follows a closing paren. */
const CHAIN = '\u0000';

/** A command: its first term applied to the rest (a function call or a method call). */
type Command = Term[];
interface Pipeline {
  decl: string[]; // variables declared with :=
  commands: Command[];
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline }
  | { kind: 'range'; pipeline: Pipeline; body: Node[]; otherwise: Node[] }
  | { kind: 'if'; pipeline: Pipeline; body: Node[]; otherwise: Node[] };

const templateError = (message: string) => invalid('INVALID_FORMAT', `template: ${message}`, 'format');

// ---------------------------------------------------------------------------------------
// Lexing and parsing

interface RawAction {
  kind: 'text' | 'action';
  text: string;
}

function splitActions(src: string): RawAction[] {
  const out: RawAction[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push({ kind: 'text', text: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let bodyStart = open + 2;
    if (src.startsWith('- ', bodyStart)) {
      text = text.replace(/\s+$/, '');
      bodyStart += 1;
    }
    const close = src.indexOf('}}', bodyStart);
    if (close < 0) throw templateError('unclosed action');
    let body = src.slice(bodyStart, close);
    let next = close + 2;
    if (body.endsWith(' -')) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(src.slice(next))!;
      next += m[0].length;
    }
    if (text !== '') out.push({ kind: 'text', text });
    out.push({ kind: 'action', text: body.trim() });
    i = next;
  }
  return out;
}

function lexAction(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw templateError('unterminated quoted string');
      tokens.push(text.slice(i, j + 1));
      i = j + 1;
    } else if (c === '`') {
      const j = text.indexOf('`', i + 1);
      if (j < 0) throw templateError('unterminated raw string');
      tokens.push(text.slice(i, j + 1));
      i = j + 1;
    } else if (c === ')' && text[i + 1] === '.' && /[A-Za-z_]/.test(text[i + 2] ?? '')) {
      // `(index .X "k").Field`: a field chain right after a parenthesised pipeline.
      const m = /^\.[A-Za-z0-9_.]+/.exec(text.slice(i + 1))!;
      tokens.push(')', `${CHAIN}${m[0]}`);
      i += 1 + m[0].length;
    } else if ('()|,'.includes(c)) {
      tokens.push(c);
      i++;
    } else if (text.startsWith(':=', i)) {
      tokens.push(':=');
      i += 2;
    } else {
      const m = /^[^\s()|,"`]+/.exec(text.slice(i))!;
      let word = m[0];
      // `$x:=` written without spaces
      const assign = word.indexOf(':=');
      if (assign > 0) word = word.slice(0, assign);
      tokens.push(word);
      i += word.length;
    }
  }
  return tokens;
}

class TokenStream {
  private i = 0;
  constructor(private readonly tokens: string[]) {}
  peek(): string | undefined {
    return this.tokens[this.i];
  }
  next(): string | undefined {
    return this.tokens[this.i++];
  }
  done(): boolean {
    return this.i >= this.tokens.length;
  }
}

function parseTerm(word: string, ts: TokenStream): Term {
  if (word === '(') {
    const pipeline = parsePipeline(ts, ')');
    if (ts.next() !== ')') throw templateError('unclosed left paren');
    if (ts.peek()?.startsWith(CHAIN)) return { kind: 'paren', pipeline, path: ts.next()!.slice(CHAIN.length + 1).split('.') };
    return { kind: 'paren', pipeline, path: [] };
  }
  if (word.startsWith('"')) return { kind: 'string', value: JSON.parse(word) as string };
  if (word.startsWith('`')) return { kind: 'string', value: word.slice(1, -1) };
  if (/^-?[0-9]+(\.[0-9]+)?$/.test(word)) return { kind: 'number', value: Number(word) };
  if (word === 'true' || word === 'false') return { kind: 'bool', value: word === 'true' };
  if (word === 'nil') return { kind: 'nil' };
  if (word === '.') return { kind: 'field', base: 'dot', path: [] };
  if (word.startsWith('.')) return { kind: 'field', base: 'dot', path: word.slice(1).split('.') };
  if (word.startsWith('$')) {
    const [name, ...path] = word.split('.');
    return { kind: 'field', base: name!, path };
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(word)) return { kind: 'call', name: word };
  throw templateError(`unexpected ${JSON.stringify(word)} in command`);
}

function parsePipeline(ts: TokenStream, stop?: string): Pipeline {
  const decl: string[] = [];
  // `$k, $v :=` or `$x :=`
  const save: string[] = [];
  while (ts.peek()?.startsWith('$') || ts.peek() === ',') save.push(ts.next()!);
  if (ts.peek() === ':=') {
    ts.next();
    decl.push(...save.filter((t) => t !== ','));
    save.length = 0;
  }
  const commands: Command[] = [];
  let command: Command = save.map((w) => parseTerm(w, ts));
  while (!ts.done() && ts.peek() !== stop) {
    const word = ts.next()!;
    if (word === '|') {
      if (command.length === 0) throw templateError('missing command before pipe');
      commands.push(command);
      command = [];
      continue;
    }
    command.push(parseTerm(word, ts));
  }
  if (command.length === 0) throw templateError('missing value for command');
  commands.push(command);
  return { decl, commands };
}

function parseNodes(raw: RawAction[], pos: { i: number }, inBlock: boolean): { nodes: Node[]; end: 'end' | 'else' | 'eof' } {
  const nodes: Node[] = [];
  while (pos.i < raw.length) {
    const item = raw[pos.i++]!;
    if (item.kind === 'text') {
      nodes.push({ kind: 'text', text: item.text });
      continue;
    }
    if (item.text.startsWith('/*')) continue; // comment
    const tokens = lexAction(item.text);
    const keyword = tokens[0];
    if (keyword === 'end' || keyword === 'else') {
      if (!inBlock) throw templateError(`unexpected {{${keyword}}}`);
      if (keyword === 'else' && tokens.length > 1) throw templateError('{{else if}} is not supported');
      return { nodes, end: keyword };
    }
    if (keyword === 'range' || keyword === 'if') {
      const ts = new TokenStream(tokens.slice(1));
      const pipeline = parsePipeline(ts);
      const body = parseNodes(raw, pos, true);
      let otherwise: Node[] = [];
      if (body.end === 'else') {
        const rest = parseNodes(raw, pos, true);
        if (rest.end !== 'end') throw templateError(`unexpected EOF in ${keyword}`);
        otherwise = rest.nodes;
      } else if (body.end !== 'end') throw templateError(`unexpected EOF in ${keyword}`);
      nodes.push({ kind: keyword, pipeline, body: body.nodes, otherwise });
      continue;
    }
    if (keyword === undefined) throw templateError('missing value for command');
    const ts = new TokenStream(tokens);
    nodes.push({ kind: 'action', pipeline: parsePipeline(ts) });
    if (!ts.done()) throw templateError(`unexpected ${JSON.stringify(ts.peek())} in operand`);
  }
  return { nodes, end: 'eof' };
}

export interface Template {
  readonly nodes: readonly Node[];
}

/** Parses a template; throws invalid INVALID_FORMAT on a syntax error. */
export function compileTemplate(src: string): Template {
  const pos = { i: 0 };
  const { nodes, end } = parseNodes(splitActions(src), pos, false);
  if (end !== 'eof') throw templateError(`unexpected {{${end}}}`);
  return { nodes };
}

// ---------------------------------------------------------------------------------------
// Values, printed the way Go's fmt prints them in templates

const NO_VALUE = Symbol('no value');

/** encoding/json Marshal escapes <, > and & for HTML safety; docker output shows that. */
export function goJson(value: unknown): string {
  const text = JSON.stringify(value === NO_VALUE ? null : toJsonable(value)) ?? 'null';
  return text.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function toJsonable(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toJsonable(v)]));
  if (value instanceof Set) return [...value].map(toJsonable);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || value === undefined) return null;
  if (Array.isArray(value)) return value.map(toJsonable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v !== 'function').map(([k, v]) => [k, toJsonable(v)]));
  }
  return value;
}

export function goPrint(value: unknown): string {
  if (value === NO_VALUE || value === undefined) return '<no value>';
  if (value === null) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(goPrint).join(' ')}]`;
  const entries = value instanceof Map ? [...value].map(([k, v]) => [String(k), v] as const) : Object.entries(value as object);
  return `map[${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}:${goPrint(v)}`).join(' ')}]`;
}

/** Go template truth: false, 0, nil, and empty strings, arrays and maps are false. */
function truthy(value: unknown): boolean {
  if (value === NO_VALUE || value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof Map) return value.size > 0;
  if (typeof value === 'object') return Object.keys(value as object).length > 0;
  return true;
}

function entriesOf(value: unknown): [unknown, unknown][] {
  if (value === NO_VALUE || value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map((v, i) => [i, v]);
  if (value instanceof Map) return [...value].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1));
  if (typeof value === 'object') return Object.entries(value as object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (typeof value === 'number' && Number.isInteger(value)) return Array.from({ length: value }, (_, i) => [i, i]);
  throw templateError(`range can't iterate over ${goPrint(value)}`);
}

// ---------------------------------------------------------------------------------------
// Functions (docker cli/templates basicFunctions, plus len and index from text/template)

type Fn = (...args: unknown[]) => unknown;
const str = (v: unknown): string => goPrint(v);

const FUNCTIONS: Record<string, Fn> = {
  json: (v) => goJson(v),
  join: (list, sep) => (Array.isArray(list) ? list.map(str).join(str(sep)) : str(list)),
  split: (s, sep) => str(s).split(str(sep)),
  lower: (s) => str(s).toLowerCase(),
  upper: (s) => str(s).toUpperCase(),
  title: (s) => str(s).replace(/\b\w/g, (c) => c.toUpperCase()),
  truncate: (s, n) => [...str(s)].slice(0, Number(n)).join(''),
  pad: (s, l, r) => `${' '.repeat(Number(l))}${str(s)}${' '.repeat(Number(r))}`,
  println: (...args) => `${args.map(str).join(' ')}\n`,
  print: (...args) => args.map(str).join(''),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v instanceof Map ? v.size : v !== null && typeof v === 'object' ? Object.keys(v).length : 0),
  index: (v, ...keys) => keys.reduce<unknown>((acc, k) => lookup(acc, String(k)), v),
  not: (v) => !truthy(v),
  eq: (a, ...bs) => bs.some((b) => a === b),
  ne: (a, b) => a !== b,
};

/** In a table header row, docker's HeaderFunctions return their argument (json returns ""). */
const HEADER_FUNCTIONS: Record<string, Fn> = {
  ...Object.fromEntries(Object.keys(FUNCTIONS).map((k) => [k, (v: unknown) => v])),
  json: () => '',
};

function lookup(value: unknown, key: string): unknown {
  if (value instanceof Map) return value.has(key) ? value.get(key) : NO_VALUE;
  if (value !== null && typeof value === 'object' && key in (value as object)) {
    return (value as Record<string, unknown>)[key];
  }
  return NO_VALUE;
}

interface Scope {
  dot: unknown;
  vars: Map<string, unknown>;
  functions: Record<string, Fn>;
  header?: Readonly<Record<string, string>>;
}

/** Header text for a field: the caller's name, else "CreatedAt" → "CREATED AT". */
function headerFor(field: string, headers: Readonly<Record<string, string>>): string {
  return headers[field] ?? field.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase();
}

function evalTerm(term: Term, scope: Scope, args: unknown[], final: unknown): unknown {
  switch (term.kind) {
    case 'string':
    case 'number':
    case 'bool':
      return term.value;
    case 'nil':
      return null;
    case 'paren':
      return term.path.reduce<unknown>((v, key) => lookup(v, key), evalPipeline(term.pipeline, scope));
    case 'call': {
      const fn = scope.functions[term.name];
      if (fn === undefined) throw templateError(`function ${JSON.stringify(term.name)} not defined`);
      return fn(...args, ...(final === NO_PIPE ? [] : [final]));
    }
    case 'field': {
      if (scope.header !== undefined && term.base === 'dot' && term.path.length > 0) return headerFor(term.path[0]!, scope.header);
      let value: unknown;
      if (term.base === 'dot') value = scope.dot;
      else {
        if (!scope.vars.has(term.base)) throw templateError(`undefined variable ${JSON.stringify(term.base)}`);
        value = scope.vars.get(term.base);
      }
      for (let i = 0; i < term.path.length; i++) {
        const key = term.path[i]!;
        const parent = value;
        value = lookup(parent, key);
        if (typeof value === 'function') {
          // A method: the last element of the chain takes the command's arguments.
          const callArgs = i === term.path.length - 1 ? [...args, ...(final === NO_PIPE ? [] : [final])] : [];
          value = (value as Fn).apply(parent, callArgs);
        }
      }
      return value;
    }
  }
}

const NO_PIPE = Symbol('no pipe');

function evalPipeline(pipeline: Pipeline, scope: Scope): unknown {
  let value: unknown = NO_PIPE;
  for (const command of pipeline.commands) {
    const [head, ...rest] = command;
    const args = rest.map((t) => evalTerm(t, scope, [], NO_PIPE));
    if (head!.kind !== 'call' && head!.kind !== 'field' && (args.length > 0 || value !== NO_PIPE)) {
      throw templateError(`can't give argument to non-function ${JSON.stringify(head)}`);
    }
    value = evalTerm(head!, scope, args, value);
  }
  if (pipeline.decl.length === 1) scope.vars.set(pipeline.decl[0]!, value);
  return value;
}

function execute(nodes: readonly Node[], scope: Scope, out: string[]): void {
  for (const node of nodes) {
    switch (node.kind) {
      case 'text':
        out.push(node.text);
        break;
      case 'action': {
        const value = evalPipeline(node.pipeline, scope);
        if (node.pipeline.decl.length === 0) out.push(goPrint(value));
        break;
      }
      case 'if':
        execute(truthy(evalPipeline(node.pipeline, { ...scope, vars: new Map(scope.vars) })) ? node.body : node.otherwise, scope, out);
        break;
      case 'range': {
        if (scope.header !== undefined) break; // nothing meaningful to show in a header
        const decl = node.pipeline.decl;
        const value = evalPipeline({ decl: [], commands: node.pipeline.commands }, scope);
        const entries = entriesOf(value);
        if (entries.length === 0) execute(node.otherwise, scope, out);
        for (const [key, item] of entries) {
          const vars = new Map(scope.vars);
          if (decl.length === 1) vars.set(decl[0]!, item);
          if (decl.length === 2) {
            vars.set(decl[0]!, key);
            vars.set(decl[1]!, item);
          }
          execute(node.body, { ...scope, dot: item, vars }, out);
        }
        break;
      }
    }
  }
}

/** Renders one value with a compiled or textual template (no trailing newline added). */
export function renderTemplate(template: Template | string, data: unknown): string {
  const t = typeof template === 'string' ? compileTemplate(template) : template;
  const out: string[] = [];
  execute(t.nodes, { dot: data, vars: new Map([['$', data]]), functions: FUNCTIONS }, out);
  return out.join('');
}

// ---------------------------------------------------------------------------------------
// docker's --format handling

export function isTableFormat(format: string): boolean {
  return format.startsWith('table');
}

/** cli/command/formatter preFormat: strip `table`, trim spaces, turn `\t` and `\n` into characters. */
function preFormat(format: string): string {
  const body = isTableFormat(format) ? format.slice('table'.length) : format;
  return body.replace(/^ +| +$/g, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

/**
 * Go's text/tabwriter as docker configures it (minwidth 10, tabwidth 1, padding 3, ' '):
 * every tab-terminated cell is padded to its column's width; the last cell is not.
 */
export function alignTable(text: string): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const cells of lines) {
    cells.slice(0, -1).forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 10, [...cell].length + 3);
    });
  }
  return lines.map((cells) => cells.map((cell, i) => (i < cells.length - 1 ? cell.padEnd(widths[i]! + cell.length - [...cell].length) : cell)).join('')).join('\n');
}

export interface FormatOptions {
  /** Header text per top-level field for `table` formats, e.g. { ID: 'NETWORK ID' }. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Renders a list the way the docker CLI does with --format: one line per item; `json`
 * means `{{json .}}`; a `table` format gets a header row and aligned columns.
 */
export function renderFormat(format: string, items: readonly unknown[], options: FormatOptions = {}): string {
  const src = format === 'json' ? '{{json .}}' : preFormat(format);
  const template = compileTemplate(src);
  const lines: string[] = [];
  if (isTableFormat(format)) {
    const header: string[] = [];
    execute(template.nodes, { dot: {}, vars: new Map([['$', {}]]), functions: HEADER_FUNCTIONS, header: options.headers ?? {} }, header);
    lines.push(header.join(''));
  }
  for (const item of items) lines.push(renderTemplate(template, item));
  const text = lines.map((l) => `${l}\n`).join('');
  return isTableFormat(format) ? alignTable(text) : text;
}
