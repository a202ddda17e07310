/**
 * Reverse-lookup names (PTR questions) to addresses: `4.3.2.1.in-addr.arpa` (RFC 1035
 * §3.5) and the 32-nibble `…ip6.arpa` form (RFC 3596 §2.5). Pure.
 */

const V4_SUFFIX = '.in-addr.arpa';
const V6_SUFFIX = '.ip6.arpa';

/** The address a lower-cased PTR name stands for (canonical text), or null when it is not a full reverse name. */
export function addressOfReverseName(name: string): string | null {
  if (name.endsWith(V4_SUFFIX)) return v4FromLabels(name.slice(0, -V4_SUFFIX.length));
  if (name.endsWith(V6_SUFFIX)) return v6FromNibbles(name.slice(0, -V6_SUFFIX.length));
  return null;
}

function v4FromLabels(head: string): string | null {
  const labels = head.split('.');
  if (labels.length !== 4) return null; // a partial name (a /24 zone) is not one address
  for (const l of labels) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(l) || Number(l) > 255) return null;
  }
  return labels.reverse().join('.');
}

function v6FromNibbles(head: string): string | null {
  const nibbles = head.split('.');
  if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return null;
  const hex = nibbles.reverse().join('');
  const groups: number[] = [];
  for (let i = 0; i < 32; i += 4) groups.push(parseInt(hex.slice(i, i + 4), 16));
  return formatV6(groups);
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run (≥ 2) of zero groups as `::`, leftmost on ties. */
export function formatV6(groups: number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
