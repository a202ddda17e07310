/**
 * Settling a write whose outcome is unknown, for the etcd backend (src/store/etcd-store.ts).
 * Pure decisions only; the store runs the reads and resends they ask for.
 *
 * A call that reached a member and then lost it (connection reset by a killed member, a
 * deadline passed, etcd's "leader changed" / "request timed out") may or may not have been
 * applied, and may even be applied a little later (the member had already forwarded the
 * proposal to the leader). Two kinds of txn can be settled instead of reported:
 *
 * 1. **Witnessed txns** (`witnessesOf`), whose failure branch writes nothing and whose
 *    success branch either puts a key that the txn compares create-only (`createRevision =
 *    0`), or deletes a key that the txn compares present (`createRevision > 0`, `modRevision
 *    = m`, `value = v`…): applying the txn makes its own compare false. The engine's txns are
 *    of this shape: an attach claims its addresses create-only with the endpoint id as value
 *    (a global network create: its name, with the network id), a detach deletes its endpoint's
 *    key compared present. Such a txn is simply sent again (to any live member), with a get
 *    of every witness key appended to its failure branch. At most one of the two sends can
 *    pass the compare, so a late original cannot apply twice; and if the resend fails its
 *    compare while every created witness holds this call's value and every deleted one is
 *    gone, the original was applied: at the created witnesses' createRevision, or (deletes
 *    only) at the revision of the delete, read from etcd's history. Sound when no other call
 *    writes a created witness's value to that key, nor re-creates a deleted witness, between
 *    the original and the resend: the engine's witness keys name the caller's own endpoint
 *    or network (only a `node rm -f` of a running node touches them).
 *
 * 2. **Other writes** (puts without a create-only compare: a detach, a plain put) are never
 *    sent again once the outcome is unknown: their compares hold before and after, so a
 *    late original plus a resend would apply twice (a detach would delete an address that
 *    another host claimed in between). The store looks for the revision that applied them
 *    instead (`writtenAt`): every success put present at revision R with this call's value
 *    and modRevision R, every single-key delete absent at R, one of them present at R - 1.
 *    Sound when the put values, or the deleted keys, name the call (a detach deletes its own
 *    endpoint's key). Not found by the deadline: reported, as before (STORE_UNREACHABLE).
 *
 * Anything else (deletes only, writes in the failure branch) is reported.
 */
import type { Compare, KeyValue, Op, Txn } from './contract.js';

/** What a failed call tells about its effect. */
export type Outcome =
  /** Never reached a member (no connection): not applied. */
  | 'not-sent'
  /** A member answered that it did not apply it (no leader, too many requests). */
  | 'not-applied'
  /** Reached a member, no answer: may have been applied, now or later. */
  | 'unknown'
  /** A real answer (invalid request, compacted revision, lease not found…): report it. */
  | 'final';

const NOT_SENT = /No connection established|ECONNREFUSED|failed to connect|Failed to connect/i;
const NOT_APPLIED = /etcdserver: no leader|etcdserver: too many requests|etcdserver: not capable/i;
const UNKNOWN = /DEADLINE_EXCEEDED|Deadline exceeded|UNAVAILABLE|ECONNRESET|EPIPE|leader changed|request timed out|timed out due to previous leader failure|Connection dropped|socket hang up|RST_STREAM|Call cancelled|CANCELLED/i;

/** The outcome of a failed etcd call from its gRPC error (message and code name). */
export function outcomeOf(err: unknown): Outcome {
  const msg = err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err);
  if (NOT_SENT.test(msg)) return 'not-sent';
  if (NOT_APPLIED.test(msg)) return 'not-applied';
  if (UNKNOWN.test(msg)) return 'unknown';
  return 'final';
}

export const isWrite = (op: Op): boolean => op.type === 'put' || op.type === 'delete' || op.type === 'deletePrefix';

/** Writes nothing in either branch: safe to send as often as needed. */
export const isReadOnly = (t: Txn): boolean => !t.success.some(isWrite) && !(t.failure ?? []).some(isWrite);

/**
 * A key whose state after the call tells whether it was applied: `created` (a success put
 * of a key compared create-only; applied ⇔ it holds this call's value) or `deleted` (a
 * success delete of a key the txn compares present; applied ⇔ it is gone).
 */
export type Witness = { kind: 'created'; key: string; value: string } | { kind: 'deleted'; key: string };

/** A compare that cannot hold on a missing key (etcd: a missing key has 0 counters; a value compare is false). */
function requiresPresent(c: Compare): boolean {
  if (c.target === 'value') return c.op === '=';
  const n = c.value as number;
  return (c.op === '>' && n >= 0) || (c.op === '=' && n > 0);
}

/** The witnesses of a witnessed txn (see above); [] when the txn is not one. */
export function witnessesOf(t: Txn): Witness[] {
  if ((t.failure ?? []).some(isWrite)) return [];
  const createOnly = new Set(t.compare.filter((c) => c.target === 'createRevision' && c.op === '=' && c.value === 0).map((c) => c.key));
  const present = new Set(t.compare.filter(requiresPresent).map((c) => c.key));
  return t.success.flatMap((op): Witness[] => {
    if (op.type === 'put' && createOnly.has(op.key)) return [{ kind: 'created', key: op.key, value: op.value }];
    if (op.type === 'delete' && present.has(op.key)) return [{ kind: 'deleted', key: op.key }];
    return [];
  });
}

/** applied: revision is known from a created witness, else the caller finds the delete's revision. */
export type WitnessVerdict = { applied: true; revision?: number } | { applied: false } | { mixed: true };

/**
 * After a resend of a witnessed txn failed its compare: `held` is each witness key's kv now
 * (same order as `witnesses`). Every witness in its "applied" state (created ones with this
 * call's value, in one revision; deleted ones gone) → the original was applied; none → it
 * was not (the resend's failure is the answer); else unknown.
 */
export function witnessVerdict(witnesses: Witness[], held: (KeyValue | undefined)[]): WitnessVerdict {
  const done = witnesses.map((w, i) => (w.kind === 'created' ? held[i]?.value === w.value : held[i] === undefined));
  if (done.every((x) => !x)) return { applied: false };
  if (!done.every(Boolean)) return { mixed: true };
  const created = held.filter((kv, i) => witnesses[i]!.kind === 'created').map((kv) => kv!.createRevision);
  if (new Set(created).size > 1) return { mixed: true };
  return created.length ? { applied: true, revision: created[0]! } : { applied: true };
}

/**
 * For a txn applied at `revision`, the revision at which to read each op of its success
 * branch to get the result it had (reads only; writes: undefined): revision - 1 for a read
 * before any write, `revision` for a read after every write. A read between writes cannot
 * be rebuilt: null (the caller reports the outcome as unknown).
 */
export function readRevisions(ops: Op[], revision: number): (number | undefined)[] | null {
  const out: (number | undefined)[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (isWrite(op)) {
      out.push(undefined);
      continue;
    }
    if (!ops.slice(0, i).some(isWrite)) out.push(revision - 1);
    else if (!ops.slice(i + 1).some(isWrite)) out.push(revision);
    else return null;
  }
  return out;
}

/** What the store reads to check one candidate revision R of a non-witnessed write. */
export interface WrittenCheck {
  /** Each success put's key at R. */
  putsAt: (KeyValue | undefined)[];
  /** Each single-key delete's key at R, and at R - 1. */
  deletesAt: (KeyValue | undefined)[];
  deletesBefore: (KeyValue | undefined)[];
}

/** The success branch's puts and single-key deletes, the shape `writtenAt` checks. */
export function writesOf(t: Txn): { puts: { key: string; value: string }[]; deletes: string[] } | undefined {
  if ((t.failure ?? []).some(isWrite)) return undefined;
  const puts = t.success.flatMap((op) => (op.type === 'put' ? [{ key: op.key, value: op.value }] : []));
  const deletes = t.success.flatMap((op) => (op.type === 'delete' ? [op.key] : []));
  return puts.length ? { puts, deletes } : undefined;
}

/** True when revision R is this txn's own: see the module comment, kind 2. */
export function writtenAt(w: NonNullable<ReturnType<typeof writesOf>>, revision: number, seen: WrittenCheck): boolean {
  const putsOk = w.puts.every((p, i) => seen.putsAt[i]?.value === p.value && seen.putsAt[i]?.modRevision === revision);
  if (!putsOk) return false;
  if (!w.deletes.length) return true;
  return seen.deletesAt.every((kv) => kv === undefined) && seen.deletesBefore.some((kv) => kv !== undefined);
}
