/**
 * The allowed name closest to a misspelt one, for "did you mean 'concurrency'?". Names are compared
 * without case, `-` and `_` (so `base_url` and `baseURL` find `baseUrl`), by edit distance counting a swap
 * of two neighbours as one edit (`prot` -> `port`), within a third of the name's length; a name that is the
 * start of an allowed one (`warn` for `warning`, `timeout` for `timeoutMs`) also counts.
 */
export function closestName(input: string, allowed: readonly string[]): string | null {
  const wanted = normalize(input);
  if (wanted === "") return null;
  let best: { name: string; distance: number } | null = null;
  for (const name of allowed) {
    const candidate = normalize(name);
    const prefix = wanted.length >= 3 && (candidate.startsWith(wanted) || wanted.startsWith(candidate));
    const distance = prefix ? 0.5 : editDistance(wanted, candidate);
    if (distance <= Math.max(1, Math.floor(wanted.length / 3)) && (best === null || distance < best.distance)) best = { name, distance };
  }
  return best?.name ?? null;
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, "");
}

/** Optimal string alignment distance (Damerau-Levenshtein without repeated edits of one substring). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i += 1) {
    const row = rows[i] ?? [];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, at(i - 2, j - 2) + 1);
      row[j] = value;
    }
  }
  return at(a.length, b.length);
}
