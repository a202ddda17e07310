/**
 * Scopes for kernel tests that work inside throwaway namespaces (test/helpers/netns.ts):
 * namespaces that exist for one test body and are removed and leak-checked after it, and a
 * namespace fd or an rtnetlink socket held only while a function runs.
 */
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { O_CLOEXEC, O_RDONLY, close, open } from '../../src/kernel/libc.js';
import { assertNoLeaks, makeNs, removeNs, type TestNs } from './netns.js';

/** Runs body with fresh namespaces, then removes them and checks nothing leaked. */
export async function withNamespaces(tags: string[], body: (ns: TestNs[]) => Promise<void> | void): Promise<void> {
  const ns = tags.map(makeNs);
  try {
    await body(ns);
  } finally {
    ns.forEach(removeNs);
  }
  assertNoLeaks(ns.map((n) => n.name));
}

/** Opens a namespace fd for the duration of fn (the form createVeth's peer.nsFd takes). */
export function withNsFd<T>(ns: TestNs, fn: (fd: number) => T): T {
  const fd = open(ns.path, O_RDONLY | O_CLOEXEC);
  try {
    return fn(fd);
  } finally {
    close(fd);
  }
}

/** An rtnetlink socket bound to the namespace for the duration of fn. */
export function withRtnl<T>(ns: TestNs, fn: (rt: Rtnl) => T): T {
  const rt = Rtnl.open(ns.path);
  try {
    return fn(rt);
  } finally {
    rt.close();
  }
}
