/**
 * A GPT-2 style byte-level BPE vocabulary for generated models (`tokenizer.ggml.model = "gpt2"`).
 *
 * Tokens are written in GPT-2's byte-to-unicode alphabet (every byte maps to a printable code point, a space
 * becomes "Ġ"), which is what llama.cpp's BPE tokenizer expects. Ids 0-255 are the single bytes in byte order,
 * then one token per merge in merge order, then the special tokens. Merges are learned from a small built-in
 * corpus so common words become single tokens; when more merges are asked for than the corpus supports, the
 * rest are synthetic joins of existing tokens (valid BPE, never reached by real text — they only pad the
 * vocabulary to the size a benchmark model wants).
 */

export interface ByteLevelBpeVocabulary {
  tokens: string[];
  /** "left right" pairs, in priority order. */
  merges: string[];
  /** 1 normal, 3 control (llama_token_type). */
  tokenTypes: number[];
  specialTokenIds: Record<string, number>;
}

const TOKEN_TYPE_NORMAL = 1;
const TOKEN_TYPE_CONTROL = 3;

/** GPT-2's bytes_to_unicode(): printable bytes keep their code point, the others move to 256+. */
export function byteToUnicodeTable(): string[] {
  const table = new Array<string>(256);
  const printable = (byte: number): boolean => (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    table[byte] = String.fromCodePoint(printable(byte) ? byte : 256 + shifted++);
  }
  return table;
}

/** GPT-2's pre-tokenizer: contractions, letter runs, digit runs, punctuation runs, whitespace. */
const PRE_TOKENIZER = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const CORPUS = [
  "The quick brown fox jumps over the lazy dog. A batch of requests is written to a file, one request per line,",
  "and the server answers each of them in its own time. The results come back in the same order as the input.",
  "You are a helpful assistant. Answer the question in one short sentence, then stop.",
  "What is the capital of France? The capital of France is Paris. What is two plus two? Two plus two is four.",
  "Summarize the following text in a few words. Translate this sentence into French. Write a haiku about the sea.",
  "system user assistant model content role message messages request response reply error result results",
  "Hello, world! How are you today? I am fine, thank you. Please return a JSON object with a name and an age.",
  '{"name": "Ada", "age": 36, "tags": ["math", "engine"], "ok": true, "score": 0.5, "items": [1, 2, 3]}',
  "Once upon a time there was a small model that could only say a few things, but it said them very quickly.",
  "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.",
  "In the beginning the data was written to disk, and the disk was full of lines, and every line had an id.",
  "The weather is nice today. Let us go for a walk in the park and then have some coffee and cake together.",
  "Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 100 1000 2024 2025 3.14 42. Dates: Monday, Tuesday, Friday, Sunday.",
  "function add(a, b) { return a + b; } const value = add(1, 2); console.log(value); if (x) { y = 0; }",
].join("\n");

function pairKey(left: string, right: string): string {
  return `${left} ${right}`;
}

/** Learns up to `mergeCount` merges from the built-in corpus (most frequent pair first, ties by text). */
function learnMerges(mergeCount: number, byteTable: readonly string[]): Array<[string, string]> {
  const wordCounts = new Map<string, number>();
  for (const match of CORPUS.matchAll(PRE_TOKENIZER)) {
    const word = Array.from(Buffer.from(match[0], "utf8"), (byte) => byteTable[byte]!).join("");
    wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  }
  const words = [...wordCounts.entries()].map(([word, count]) => ({ symbols: Array.from(word), count }));
  const merges: Array<[string, string]> = [];
  while (merges.length < mergeCount) {
    const pairCounts = new Map<string, { left: string; right: string; count: number }>();
    for (const { symbols, count } of words) {
      for (let index = 0; index + 1 < symbols.length; index++) {
        const key = pairKey(symbols[index]!, symbols[index + 1]!);
        const entry = pairCounts.get(key);
        if (entry) entry.count += count;
        else pairCounts.set(key, { left: symbols[index]!, right: symbols[index + 1]!, count });
      }
    }
    let best: { left: string; right: string; count: number } | undefined;
    for (const entry of pairCounts.values()) {
      if (!best || entry.count > best.count || (entry.count === best.count && pairKey(entry.left, entry.right) < pairKey(best.left, best.right))) {
        best = entry;
      }
    }
    if (!best) break;
    merges.push([best.left, best.right]);
    const joined = best.left + best.right;
    for (const word of words) {
      const next: string[] = [];
      for (let index = 0; index < word.symbols.length; index++) {
        if (index + 1 < word.symbols.length && word.symbols[index] === best.left && word.symbols[index + 1] === best.right) {
          next.push(joined);
          index++;
        } else {
          next.push(word.symbols[index]!);
        }
      }
      word.symbols = next;
    }
  }
  return merges;
}

export function buildByteLevelBpeVocabulary(options: { mergeCount: number; specialTokens: readonly string[] }): ByteLevelBpeVocabulary {
  const byteTable = byteToUnicodeTable();
  const tokens = [...byteTable];
  const known = new Set(tokens);
  const merges: string[] = [];
  const addMerge = (left: string, right: string): void => {
    const joined = left + right;
    if (known.has(joined)) return;
    known.add(joined);
    tokens.push(joined);
    merges.push(pairKey(left, right));
  };
  for (const [left, right] of learnMerges(options.mergeCount, byteTable)) addMerge(left, right);

  // Pad with synthetic merges: each learned multi-byte token followed by a lower-case letter.
  const letters = Array.from("etaoinshrdlcumwfgypbvkjxqz");
  const bases = tokens.slice(256);
  for (let round = 0; merges.length < options.mergeCount; round++) {
    const base = bases[round % Math.max(1, bases.length)] ?? "Ġ";
    const letter = letters[Math.floor(round / Math.max(1, bases.length)) % letters.length]!;
    if (round > bases.length * letters.length * 4) throw new Error(`Cannot build ${options.mergeCount} merges`);
    addMerge(base, letter);
  }

  const tokenTypes = tokens.map(() => TOKEN_TYPE_NORMAL);
  const specialTokenIds: Record<string, number> = {};
  for (const special of options.specialTokens) {
    specialTokenIds[special] = tokens.length;
    tokens.push(special);
    tokenTypes.push(TOKEN_TYPE_CONTROL);
  }
  return { tokens, merges, tokenTypes, specialTokenIds };
}
