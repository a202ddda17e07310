/**
 * A regular-expression matcher whose time is linear in the text (a Pike VM over a Thompson
 * NFA), for patterns that come from API clients: Docker's `filters` match names and IDs with
 * Go's `regexp.MatchString` (RE2, linear), and V8's backtracking RegExp would let one
 * request like `{"id":{"([0-9a-f]+)+z":true}}` freeze the daemon's only event loop.
 *
 * Supported (RE2 syntax, unanchored search like regexp.MatchString): literals, `.` (not
 * `\n`), classes `[a-z]`, `[^…]`, `\d \D \w \W \s \S` (also inside classes), escapes of
 * punctuation and `\t \n \r \f \v`, anchors `^` `$` (text start/end), groups `(…)` and
 * `(?:…)`, alternation `|`, quantifiers `* + ? {n} {n,} {n,m}` (greedy or lazy: the same
 * for a yes/no answer). Anything else (flags like `(?i)`, `\b`, named groups, Unicode
 * classes) is reported as unsupported: `compile` returns undefined, and the filter then
 * matches only exactly, as Go's Match does for a pattern it cannot compile.
 *
 * Cost: at most MAX_PATTERN characters and MAX_PROGRAM instructions (after `{n,m}` is
 * expanded), so one match costs O(text length × MAX_PROGRAM) at worst.
 */

export const MAX_PATTERN = 1000;
export const MAX_PROGRAM = 5000;

type CharTest = (c: number) => boolean;

type Node =
  | { t: 'char'; test: CharTest }
  | { t: 'cat'; items: Node[] }
  | { t: 'alt'; left: Node; right: Node }
  | { t: 'repeat'; node: Node; min: number; max: number | undefined }
  | { t: 'bol' }
  | { t: 'eol' }
  | { t: 'empty' };

type Inst =
  | { op: 'char'; test: CharTest }
  | { op: 'split'; x: number; y: number }
  | { op: 'jmp'; x: number }
  | { op: 'bol' }
  | { op: 'eol' }
  | { op: 'match' };

class Unsupported extends Error {}

export interface LinearRegExp {
  /** True when the pattern matches somewhere in `text` (regexp.MatchString). */
  test(text: string): boolean;
}

/** Compiles `pattern`; undefined when it is invalid or outside the supported syntax. */
export function compileLinear(pattern: string): LinearRegExp | undefined {
  if (pattern.length > MAX_PATTERN) return undefined;
  let prog: Inst[];
  try {
    const parser = new Parser(pattern);
    const ast = parser.parseAlt();
    if (parser.pos !== pattern.length) throw new Unsupported('unbalanced )');
    prog = [];
    emit(ast, prog);
    prog.push({ op: 'match' });
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
  return { test: (text) => run(prog, text) };
}

// ---------------------------------------------------------------------------------------
// Parser (recursive descent over the pattern's UTF-16 code units)

const isDigit: CharTest = (c) => c >= 48 && c <= 57;
const isWord: CharTest = (c) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isSpace: CharTest = (c) => c === 32 || (c >= 9 && c <= 13);
const not = (f: CharTest): CharTest => (c) => !f(c);
const PERL_CLASSES: Record<string, CharTest> = { d: isDigit, D: not(isDigit), w: isWord, W: not(isWord), s: isSpace, S: not(isSpace) };
const CONTROL: Record<string, number> = { t: 9, n: 10, r: 13, f: 12, v: 11, a: 7 };

class Parser {
  pos = 0;
  constructor(private readonly src: string) {}

  private peek(): string | undefined {
    return this.src[this.pos];
  }

  parseAlt(): Node {
    let left = this.parseCat();
    while (this.peek() === '|') {
      this.pos++;
      left = { t: 'alt', left, right: this.parseCat() };
    }
    return left;
  }

  private parseCat(): Node {
    const items: Node[] = [];
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) items.push(this.parseRepeat());
    return items.length === 0 ? { t: 'empty' } : items.length === 1 ? items[0]! : { t: 'cat', items };
  }

  private parseRepeat(): Node {
    let node = this.parseAtom();
    for (let quantified = false; ; quantified = true) {
      const c = this.peek();
      let min: number;
      let max: number | undefined;
      if (c === '*') [min, max] = [0, undefined];
      else if (c === '+') [min, max] = [1, undefined];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{') {
        const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(this.src.slice(this.pos));
        if (!m) return node; // a literal `{`, as in RE2
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
        if (min > 1000 || (max !== undefined && (max > 1000 || max < min))) throw new Unsupported('bad repeat');
        this.pos += m[0].length - 1;
      } else return node;
      this.pos++;
      if (this.peek() === '?') this.pos++; // lazy: same yes/no answer
      if (quantified) throw new Unsupported('invalid nested repetition operator'); // `a**`, as RE2
      node = { t: 'repeat', node, min, max };
    }
  }

  private parseAtom(): Node {
    const c = this.src[this.pos++];
    switch (c) {
      case '(': {
        if (this.src.startsWith('?:', this.pos)) this.pos += 2;
        else if (this.peek() === '?') throw new Unsupported('group flags');
        const inner = this.parseAlt();
        if (this.src[this.pos++] !== ')') throw new Unsupported('missing )');
        return inner;
      }
      case '.':
        return { t: 'char', test: (x) => x !== 10 };
      case '^':
        return { t: 'bol' };
      case '$':
        return { t: 'eol' };
      case '[':
        return { t: 'char', test: this.parseClass() };
      case '\\':
        return { t: 'char', test: this.parseEscape() };
      case '*':
      case '+':
      case '?':
        throw new Unsupported('missing argument to repetition operator');
      case undefined:
      case ')':
        throw new Unsupported('unexpected end');
      default: {
        const code = c.charCodeAt(0);
        return { t: 'char', test: (x) => x === code };
      }
    }
  }

  /** After a backslash: a class test, or a single code unit. */
  private parseEscape(): CharTest {
    const e = this.src[this.pos++];
    if (e === undefined) throw new Unsupported('trailing backslash');
    const perl = PERL_CLASSES[e];
    if (perl) return perl;
    const control = CONTROL[e];
    if (control !== undefined) return (x) => x === control;
    if (/[A-Za-z0-9]/.test(e)) throw new Unsupported(`escape \\${e}`);
    const code = e.charCodeAt(0);
    return (x) => x === code;
  }

  private parseClass(): CharTest {
    const negate = this.peek() === '^';
    if (negate) this.pos++;
    const tests: CharTest[] = [];
    let first = true;
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) throw new Unsupported('missing ]');
      if (c === ']' && !first) {
        this.pos++;
        break;
      }
      first = false;
      if (c === '[' && this.src[this.pos + 1] === ':') throw new Unsupported('POSIX class');
      const lo = this.classChar();
      if (typeof lo === 'function') {
        tests.push(lo);
        continue;
      }
      if (this.peek() === '-' && this.src[this.pos + 1] !== undefined && this.src[this.pos + 1] !== ']') {
        this.pos++;
        const hi = this.classChar();
        if (typeof hi === 'function' || hi < lo) throw new Unsupported('bad range');
        tests.push((x) => x >= lo && x <= hi);
      } else {
        tests.push((x) => x === lo);
      }
    }
    const any: CharTest = (x) => tests.some((t) => t(x));
    return negate ? (x) => !any(x) : any; // Go sets ClassNL: [^a] matches a newline too
  }

  private classChar(): number | CharTest {
    const c = this.src[this.pos++]!;
    if (c !== '\\') return c.charCodeAt(0);
    const e = this.src[this.pos++];
    if (e === undefined) throw new Unsupported('trailing backslash');
    const perl = PERL_CLASSES[e];
    if (perl) return perl;
    const control = CONTROL[e];
    if (control !== undefined) return control;
    if (/[A-Za-z0-9]/.test(e)) throw new Unsupported(`escape \\${e}`);
    return e.charCodeAt(0);
  }
}

// ---------------------------------------------------------------------------------------
// Compiler (Thompson construction) and Pike VM

function emit(node: Node, prog: Inst[]): void {
  if (prog.length > MAX_PROGRAM) throw new Unsupported('pattern too large');
  switch (node.t) {
    case 'empty':
      return;
    case 'char':
      prog.push({ op: 'char', test: node.test });
      return;
    case 'bol':
      prog.push({ op: 'bol' });
      return;
    case 'eol':
      prog.push({ op: 'eol' });
      return;
    case 'cat':
      for (const n of node.items) emit(n, prog);
      return;
    case 'alt': {
      const split = { op: 'split', x: prog.length + 1, y: 0 } as Extract<Inst, { op: 'split' }>;
      prog.push(split);
      emit(node.left, prog);
      const jmp = { op: 'jmp', x: 0 } as Extract<Inst, { op: 'jmp' }>;
      prog.push(jmp);
      split.y = prog.length;
      emit(node.right, prog);
      jmp.x = prog.length;
      return;
    }
    case 'repeat': {
      for (let i = 0; i < node.min; i++) emit(node.node, prog);
      if (node.max === undefined) {
        // x*: L1: split L2, L3; L2: x; jmp L1; L3:
        const split = { op: 'split', x: prog.length + 1, y: 0 } as Extract<Inst, { op: 'split' }>;
        const start = prog.length;
        prog.push(split);
        emit(node.node, prog);
        prog.push({ op: 'jmp', x: start });
        split.y = prog.length;
      } else {
        const splits: Extract<Inst, { op: 'split' }>[] = [];
        for (let i = node.min; i < node.max; i++) {
          const split = { op: 'split', x: prog.length + 1, y: 0 } as Extract<Inst, { op: 'split' }>;
          splits.push(split);
          prog.push(split);
          emit(node.node, prog);
          if (prog.length > MAX_PROGRAM) throw new Unsupported('pattern too large');
        }
        for (const s of splits) s.y = prog.length;
      }
      if (prog.length > MAX_PROGRAM) throw new Unsupported('pattern too large');
    }
  }
}

function run(prog: Inst[], text: string): boolean {
  let current: number[] = [];
  let next: number[] = [];
  const seen = new Int32Array(prog.length).fill(-1);
  let generation = 0;

  // Adds pc and everything reachable from it through jumps, splits and satisfied assertions.
  const add = (list: number[], start: number, at: number): boolean => {
    const stack = [start];
    while (stack.length) {
      const pc = stack.pop()!;
      if (seen[pc] === generation) continue;
      seen[pc] = generation;
      const inst = prog[pc]!;
      switch (inst.op) {
        case 'jmp':
          stack.push(inst.x);
          break;
        case 'split':
          stack.push(inst.y, inst.x);
          break;
        case 'bol':
          if (at === 0) stack.push(pc + 1);
          break;
        case 'eol':
          if (at === text.length) stack.push(pc + 1);
          break;
        case 'match':
          return true;
        case 'char':
          list.push(pc);
      }
    }
    return false;
  };

  for (let at = 0; ; at++) {
    // Unanchored search: a new thread starts at every position.
    if (add(current, 0, at)) return true;
    if (at === text.length) return false;
    const c = text.charCodeAt(at);
    generation++;
    next.length = 0;
    for (const pc of current) {
      const inst = prog[pc] as Extract<Inst, { op: 'char' }>;
      if (inst.test(c) && add(next, pc + 1, at + 1)) return true;
    }
    [current, next] = [next, current];
  }
}
