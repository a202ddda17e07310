/**
 * Names, aliases, hostnames and IDs, and the one lookup rule Docker uses everywhere:
 * exact ID, then exact name, then unique ID prefix.
 */
import { invalid, notFound } from '../errors.js';

export const MAX_NAME_LENGTH = 64;

/** Docker's container-name rule (daemon/names: RestrictedNamePattern), leading '/' allowed. */
const SANDBOX_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/**
 * Network names follow Docker: any name that is not blank (libnetwork config.IsValidName:
 * `strings.TrimSpace(name) != ""`), so `my net` and `ünï` are names. A network name is data
 * only: it never reaches a shell, a file path, an nftables rule or a kernel object name
 * (bridges are named from the ID). Our one extra rule is a length cap, so that one name
 * cannot bloat every list and DNS answer.
 */
export const MAX_NETWORK_NAME_LENGTH = 255;

/** Validates a sandbox (container) name and returns it without its leading '/'. */
export function validateSandboxName(name: string, field = 'Name'): string {
  if (!SANDBOX_NAME.test(name) || name.replace(/^\//, '').length > MAX_NAME_LENGTH) {
    throw invalid('INVALID_NAME',
      `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed and at most ${MAX_NAME_LENGTH} characters`, field);
  }
  return name.replace(/^\//, '');
}

export function validateNetworkName(name: string, field = 'Name'): string {
  if (name.trim() === '') throw invalid('INVALID_NAME', name === '' ? 'invalid name: name is empty' : `invalid name: ${JSON.stringify(name)} is blank`, field);
  if (name.length > MAX_NETWORK_NAME_LENGTH) {
    throw invalid('INVALID_NAME', `invalid network name: ${name.length} characters, at most ${MAX_NETWORK_NAME_LENGTH} are allowed`, field);
  }
  return name;
}

/**
 * A network alias is looked up by the embedded DNS, so it must be a sequence of DNS
 * labels (RFC 1035 §2.3.4: labels ≤ 63 octets, names ≤ 253 characters as text). Docker
 * names may contain '_', so '_' is allowed inside a label, as for container names.
 */
const ALIAS_LABEL = /^[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?$/;

export function validateAlias(alias: string, field = 'Aliases'): string {
  const labels = alias.split('.');
  if (alias.length === 0 || alias.length > 253 || labels.some((l) => l.length > 63 || !ALIAS_LABEL.test(l))) {
    throw invalid('INVALID_ALIAS', `invalid network alias ${JSON.stringify(alias)}: must be DNS labels of [a-zA-Z0-9_-] (at most 63 characters each)`, field);
  }
  return alias;
}

/** RFC 1123 §2.1 host names: labels of letters, digits and '-', not at either end, ≤ 63 each. */
const HOST_LABEL = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

export function validateHostname(hostname: string, field = 'Hostname'): string {
  const labels = hostname.split('.');
  if (hostname.length === 0 || hostname.length > 253 || labels.some((l) => l.length > 63 || !HOST_LABEL.test(l))) {
    throw invalid('INVALID_HOSTNAME', `invalid hostname ${JSON.stringify(hostname)}: must be RFC 1123 labels of [a-zA-Z0-9-] (at most 63 characters each)`, field);
  }
  return hostname;
}

// ---------------------------------------------------------------------------------------
// IDs

/** A 64-hex ID from 32 random bytes (Docker's stringid.GenerateRandomID). */
export function newId(randomBytes32: Uint8Array): string {
  if (randomBytes32.length < 32) throw invalid('INVALID_ARGUMENT', 'newId needs 32 random bytes');
  return Array.from(randomBytes32.subarray(0, 32), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Docker retries an ID whose 12-character short form is all digits, so that it can never
 * be mistaken for a number (stringid). Callers draw new bytes while this is true.
 */
export function isAmbiguousShortId(id: string): boolean {
  return /^[0-9]{12}/.test(id);
}

export const shortId = (id: string): string => id.slice(0, 12);

export const isFullId = (text: string): boolean => /^[0-9a-f]{64}$/.test(text);

// ---------------------------------------------------------------------------------------
// Lookups

export type RefKind = 'network' | 'container';

export interface Named {
  readonly id: string;
  readonly name: string;
}

function notFoundError(kind: RefKind, ref: string) {
  return kind === 'network'
    ? notFound('NETWORK_NOT_FOUND', `network ${ref} not found`)
    : notFound('SANDBOX_NOT_FOUND', `No such container: ${ref}`);
}

/**
 * Finds the item `ref` names. Order (moby daemon/network.go, FindNetwork): an exact ID,
 * then an exact name, then a unique ID prefix. Several name or prefix matches are
 * ambiguous (invalid, 400), with Docker's messages; none is not-found (404).
 */
export function resolveRef<T extends Named>(ref: string, items: readonly T[], kind: RefKind): T {
  if (ref === '') throw invalid('INVALID_REFERENCE', `${kind} name or ID is empty`);
  const byId = items.find((i) => i.id === ref);
  if (byId !== undefined) return byId;
  const byName = items.filter((i) => i.name === ref || (kind === 'container' && i.name === ref.replace(/^\//, '')));
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) {
    throw invalid('AMBIGUOUS_REFERENCE', `${byName.length} matches found based on name: ${kind} ${ref} is ambiguous`);
  }
  if (/^[0-9a-fA-F]+$/.test(ref)) {
    const lower = ref.toLowerCase();
    const byPrefix = items.filter((i) => i.id.startsWith(lower));
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) {
      throw invalid('AMBIGUOUS_REFERENCE', `${byPrefix.length} matches found based on ID prefix: ${kind} ${ref} is ambiguous`);
    }
  }
  throw notFoundError(kind, ref);
}
