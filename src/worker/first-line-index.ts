/**
 * FirstLineIndex: the line each client id of a Batch (its dialect's request id) was first seen on, so validation
 * can name both lines of a duplicate. A Map<string, number> costs about 120 MB of RSS at 1M ids (a heap
 * string and a hash-table entry each, plus the heap growth around them: issue 11's 1M-Item goal is 300 MB for
 * the whole process); this keeps the ids' UTF-8 bytes in one growing arena and an open-addressing table of
 * typed arrays, about 16 bytes per id plus the id itself, outside the JS heap. Exact: candidates are
 * compared byte for byte (after their lengths); at most half the table is full, so that is rare.
 */

const EMPTY = 0;

export class FirstLineIndex {
  private arena = Buffer.allocUnsafe(1 << 16);
  private used = 0;
  /**
   * Per entry: where its bytes start in the arena (entries are appended, so one ends where the next starts)
   * and its line.
   */
  private starts = new Uint32Array(1 << 10);
  private lines = new Uint32Array(1 << 10);
  private count = 0;
  /** Open addressing, linear probing: entry number + 1, or EMPTY. Kept at most half full. */
  private slots = new Uint32Array(1 << 11);

  get size(): number {
    return this.count;
  }

  /** Bytes the index holds on to (its arena and tables). */
  get retainedBytes(): number {
    return this.arena.length + this.starts.byteLength + this.lines.byteLength + this.slots.byteLength;
  }

  /**
   * Records that `id` is on `line` unless it was seen before; returns the earlier line if it was, else
   * undefined (and the id is recorded).
   */
  firstLineOr(id: string, line: number): number | undefined {
    this.reserveBytes(id.length * 3);
    const start = this.used;
    const end = start + this.arena.write(id, start, "utf8");
    const hash = fnv1a(this.arena, start, end);
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry === EMPTY) {
        this.add(slot, end, line);
        return undefined;
      }
      const index = entry - 1;
      if (this.sameBytes(index, start, end)) return this.lines[index];
    }
  }

  private add(slot: number, end: number, line: number): void {
    if (this.count === this.starts.length) this.growEntries();
    const index = this.count;
    this.starts[index] = this.used;
    this.lines[index] = line;
    this.count += 1;
    this.slots[slot] = index + 1;
    this.used = end;
    if (this.count * 2 > this.slots.length) this.growSlots();
  }

  private endOf(index: number): number {
    return index + 1 < this.count ? this.starts[index + 1]! : this.used;
  }

  private sameBytes(index: number, start: number, end: number): boolean {
    const otherStart = this.starts[index]!;
    const otherEnd = this.endOf(index);
    return otherEnd - otherStart === end - start && this.arena.compare(this.arena, otherStart, otherEnd, start, end) === 0;
  }

  private reserveBytes(bytes: number): void {
    if (this.used + bytes <= this.arena.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.used + bytes));
    this.arena.copy(grown, 0, 0, this.used);
    this.arena = grown;
  }

  private growEntries(): void {
    const size = this.starts.length * 2;
    this.starts = copyInto(new Uint32Array(size), this.starts);
    this.lines = copyInto(new Uint32Array(size), this.lines);
  }

  private growSlots(): void {
    const slots = new Uint32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let index = 0; index < this.count; index += 1) {
      let slot = fnv1a(this.arena, this.starts[index]!, this.endOf(index)) & mask;
      while (slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      slots[slot] = index + 1;
    }
    this.slots = slots;
  }
}

function copyInto(target: Uint32Array<ArrayBuffer>, source: Uint32Array): Uint32Array<ArrayBuffer> {
  target.set(source);
  return target;
}

/** 32-bit FNV-1a over `bytes[start, end)`. */
function fnv1a(bytes: Buffer, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i += 1) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash >>> 0;
}
