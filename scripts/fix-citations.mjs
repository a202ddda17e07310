#!/usr/bin/env node
// Replaces the citations of research notes that live outside the repository
// (research/*.md, spikes.md) with links to docs/notes/kernel-facts.md, which holds the same
// facts with their upstream sources.
//
//   node scripts/fix-citations.mjs           dry run: what would change, and what is left
//   node scripts/fix-citations.mjs --write   rewrite the files
//
// Each entry matches an exact piece of text (not a line number, so it survives merges):
// found once → replaced; already replaced → skipped; missing or found twice → reported and
// left alone (fix it by hand). Every anchor is checked against the headings of
// kernel-facts.md. Exit status 1 if a citation is left anywhere in src/ or docs/.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FACTS = 'docs/notes/kernel-facts.md';
const K = `${FACTS}#`; // in source comments: a repository path
const L = (anchor, text = 'notes') => `[${text}](notes/kernel-facts.md#${anchor})`; // in docs/*.md

/** [file, exact text today, replacement] */
const TABLE = [
  ['src/model/etc-files.ts', '(research/docker-networking.md §3.3, §3.5)', `(${FACTS}, #docker-resolvconf-and-upstreams and #docker-hosts-file)`],
  ['src/services/dns/service.ts', '(research/spikes.md §3)', `(${K}dns-sockets-by-fd)`],
  ['src/services/dns/upstream.ts', '(research/docker-networking.md §3.3)', `(${K}docker-resolvconf-and-upstreams)`],
  ['src/services/dns/answer.ts', '(research/docker-networking.md §3.4, moby libnetwork/resolver.go)', `(${K}docker-embedded-dns-names, moby libnetwork/resolver.go)`],
  ['src/services/dns/types.ts', 'research/docker-networking.md §3.4, moby#24800)', `${K}docker-embedded-dns-names, moby#24800)`],
  ['src/services/firewall/ruleset.ts', 'srcnat (100) for postrouting (spikes.md §4)', `srcnat (100) for postrouting (${K}nat-chain-priorities)`],
  ['src/services/firewall/ruleset.ts', 'default to 1 in every netns (spikes.md §4)', `default to 1 in every netns (${K}bridged-frames-and-br_netfilter)`],
  ['src/services/ports/plan.ts', 'research/docker-networking.md §2.8)', `${K}docker-port-publishing)`],
  ['src/api/http-status.ts', '(research/docker-networking.md §1.1)', `(${K}docker-error-statuses)`],
  ['src/api/routes-networks.ts', 'research/docker-networking.md §1.2)', `${K}docker-network-routes)`],
  ['src/api/routes-system.ts', '(research/docker-networking.md §1.1)', `(${K}docker-api-version-negotiation)`],
  ['src/api/docker-views.ts', '(research/docker-networking.md §1.3)', `(${K}docker-json-field-order)`],
  ['src/kernel/libc.ts', '(research/spikes.md §1-2)', `(${K}spawning-ip)`],
  ['src/kernel/libc.ts', 'on the threadpool (spikes.md §1)', `on the threadpool (${K}bounded-waits-on-the-threadpool)`],
  ['src/kernel/netlink/index.ts', '(spikes.md §2)', `(${K}sockets-keep-their-namespace)`],
  ['src/kernel/netlink/neighbours.ts', '(spikes.md §7)', `(${K}vxlan-flood-entry)`],
  ['src/kernel/netlink/links.ts', 'expensive kernel path (spikes.md §1)', `expensive kernel path (${K}veth-peer-made-in-place)`],
  ['src/kernel/netlink/links.ts', '~30 ms of kernel time (spikes.md §1)', `~30 ms of kernel time (${K}veth-deletion-cost)`],
  ['src/kernel/netlink/socket.ts', '(spikes.md §2)', `(${K}sockets-keep-their-namespace)`],
  ['src/kernel/netlink/socket.ts', 'process exit, spikes.md §1)', `process exit, ${K}bounded-waits-on-the-threadpool)`],
  ['src/kernel/sysctl.ts', '(research/spikes.md §2, pitfall 4)', `(${K}per-netns-sysctls)`],
  ['src/kernel/netns.ts', '(research/spikes.md §2)', `(${K}setns-is-per-thread)`],
  ['src/kernel/netns.ts', '(research/spikes.md §2, pitfall 2)', `(${K}threadpool-warm-up)`],
  ['src/kernel/netns.ts', '(research/spikes.md §3)', `(${K}late-socket-creation)`],
  ['src/kernel/nftables.ts', '(research/spikes.md §4)', `(${K}libnftables-in-process)`],
  ['src/kernel/nftables.ts', 'segfaulted on them (spikes.md §4)', `segfaulted on them (${K}nft-json-gaps)`],
  ['src/drivers/bridge.ts', '(16 ms; research/spikes.md §1)', `(16 ms; ${K}veth-peer-made-in-place)`],
  ['src/drivers/bridge.ts', '(research/spikes.md §4)', `(${K}hairpin)`],
  ['docs/RELIABILITY.md', '(research/docker-networking.md §8)', `(${L('what-docker-users-report')})`],
  ['docs/DNS.md', 'which sandbox asked (research/spikes.md §3)', `which sandbox asked (${L('dns-sockets-by-fd')})`],
  ['docs/DNS.md', 'users report (research/docker-networking.md §8)', `users report (${L('what-docker-users-report')})`],
  ['docs/DNS.md', '(research/anchors-bench.md §5, an earlier day)', `(${L('dns-throughput-of-the-anchors')}, an earlier day)`],
  ['docs/api/openapi.yaml', '(research/docker-networking.md §1 lists the details we follow)', `(${K}docker-engine-api lists the details we follow)`],
  ['docs/FIREWALL.md', '(research/spikes.md §4)', `(${L('nft-json-gaps')})`],
  ['docs/STORE.md', '(research/spikes.md §6)', `(${L('etcd3-builders-are-lazy')})`],
];

const CITATION = /research\/[\w-]+\.md|spikes\.md/;

/** GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces → -. */
const slug = (heading) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

function anchorsOf(path) {
  return new Set(readFileSync(path, 'utf8').split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, ''))));
}

function count(text, piece) {
  let n = 0;
  for (let i = text.indexOf(piece); i !== -1; i = text.indexOf(piece, i + piece.length)) n++;
  return n;
}

function filesUnder(dir, out = []) {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) filesUnder(p, out);
    else if (/\.(ts|md|yaml|mjs)$/.test(ent.name)) out.push(p);
  }
  return out;
}

const write = process.argv.includes('--write');
const anchors = anchorsOf(FACTS);
let problems = 0;
for (const [, , to] of TABLE) {
  for (const [, a] of to.matchAll(/(?:kernel-facts\.md#| #)([\w-]+)/g)) {
    if (!anchors.has(a)) {
      console.error(`unknown anchor #${a} (no such heading in ${FACTS})`);
      problems++;
    }
  }
}
if (problems) process.exit(1);

const texts = new Map();
for (const [file, from, to] of TABLE) {
  if (!existsSync(file)) {
    console.log(`missing   ${file}: file not found; cite ${to} wherever "${from}" went`);
    continue;
  }
  const text = texts.get(file) ?? readFileSync(file, 'utf8');
  const n = count(text, from);
  if (n === 1) {
    texts.set(file, text.replace(from, () => to));
    console.log(`${write ? 'replaced' : 'would fix'} ${file}: ${from} → ${to}`);
  } else if (n === 0 && text.includes(to)) {
    console.log(`done      ${file}: ${to}`);
  } else {
    console.log(`by hand   ${file}: "${from}" found ${n} times; cite ${to}`);
  }
}
if (write) for (const [file, text] of texts) writeFileSync(file, text);

// What is left: citations this table does not know (new ones, or text changed by a merge).
const left = [];
for (const file of [...filesUnder('src'), ...filesUnder('docs')]) {
  const lines = (texts.get(file) ?? readFileSync(file, 'utf8')).split('\n');
  lines.forEach((line, i) => {
    if (CITATION.test(line)) left.push(`${file}:${i + 1}: ${line.trim()}`);
  });
}
if (left.length) {
  console.log(`\n${left.length} citation(s) of files outside the repository ${write ? 'remain' : 'would remain'}:`);
  for (const l of left) console.log(`  ${l}`);
}
process.exit(left.length ? 1 : 0);
