/** Prompts for the prefix benchmarks: deterministic word salad, and a fixed shuffle of prefixes through a batch. */
import { SeededRandom } from "../src/demo-model/seeded-random.ts";

const WORDS = (
  "the batch request model answer customer order parcel refund invoice policy support agent careful polite short " +
  "sentence question reply always never include mention price delivery window address label return warehouse " +
  "shipment tracking number status delay weekend holiday carrier contact email phone"
).split(" ");

export function promptText(seed: number, words: number, stream = "prompt"): string {
  const random = new SeededRandom(seed, stream);
  return Array.from({ length: words }, () => WORDS[Math.floor(random.nextFloat() * WORDS.length)]).join(" ");
}

/** Item i's prefix, shuffled through the batch (a fixed shuffle: every run sees the same file). */
export function shuffledPrefixes(items: number, prefixes: number, seed = 7): number[] {
  const order = Array.from({ length: items }, (_, index) => index % prefixes);
  const random = new SeededRandom(seed, "shuffle");
  for (let index = order.length - 1; index > 0; index--) {
    const other = Math.floor(random.nextFloat() * (index + 1));
    [order[index], order[other]] = [order[other]!, order[index]!];
  }
  return order;
}
