/**
 * RepeatedHashes: whether any two Items of a Batch may share a request hash, so startBatch can skip the
 * duplicate arrangement (a window sort and a join over every Item: 3–4× the plain start of a 20k-Item
 * Batch) for the common Batch whose requests are all different, e.g. an embedding file.
 *
 * Keeps 48 bits of each hash (the first 8 base64url characters) in an open-addressing table of doubles,
 * 16 bytes per Item at most, outside the JS heap. Two different hashes agreeing on 48 bits only make the
 * answer "maybe repeated" and the Batch is arranged as before; a repeat is never missed.
 */

const EMPTY = 0;
/** 8 base64url characters: 48 bits, exact in a double. */
const FINGERPRINT_CHARS = 8;

export class RepeatedHashes {
  private slots = new Float64Array(1 << 10);
  private count = 0;
  private repeated = false;

  /** True once some hash was seen twice (or two hashes shared their first 48 bits). */
  get any(): boolean {
    return this.repeated;
  }

  note(hash: string): void {
    if (this.repeated) return;
    const fingerprint = fingerprintOf(hash);
    const mask = this.slots.length - 1;
    for (let slot = fingerprint & mask; ; slot = (slot + 1) & mask) {
      const held = this.slots[slot]!;
      if (held === EMPTY) {
        this.slots[slot] = fingerprint;
        this.count += 1;
        if (this.count * 2 > this.slots.length) this.grow();
        return;
      }
      if (held === fingerprint) {
        this.repeated = true;
        this.slots = new Float64Array(0); // the answer is final: let the table go
        return;
      }
    }
  }

  private grow(): void {
    const slots = new Float64Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (const fingerprint of this.slots) {
      if (fingerprint === EMPTY) continue;
      let slot = fingerprint & mask;
      while (slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      slots[slot] = fingerprint;
    }
    this.slots = slots;
  }
}

/** The first 48 bits of a base64url hash, never EMPTY. Low bits first, so `& mask` spreads them. */
function fingerprintOf(hash: string): number {
  let value = 0;
  for (let i = FINGERPRINT_CHARS - 1; i >= 0; i -= 1) value = value * 64 + digitOf(hash.charCodeAt(i));
  return value === EMPTY ? 1 : value;
}

function digitOf(code: number): number {
  if (code >= 65 && code <= 90) return code - 65; // A-Z
  if (code >= 97 && code <= 122) return code - 71; // a-z
  if (code >= 48 && code <= 57) return code + 4; // 0-9
  return code === 45 ? 62 : 63; // "-" or "_"
}
