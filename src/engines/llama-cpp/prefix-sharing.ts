/**
 * Prefix sharing between sequences: a request whose prompt starts like what another sequence holds, or is
 * evaluating right now, gets that prefix copied into its own sequence instead of evaluating it again.
 *
 * KV reuse alone (kv-reuse.ts) saves a shared prefix only on the sequence that evaluated it. A Batch claimed
 * in prefix order hands the engine several Items of one prefix group at once; each lands on its own sequence
 * and, without sharing, each sequence evaluates the same system prompt (`bench -- prefix`: a 700-token
 * prompt evaluated four times per group on four sequences). With sharing the first Item evaluates it, the
 * others wait for that evaluation (the CPU is busy with it either way: on this engine a token costs the same
 * whether decoded alone or beside others) and copy the result, so a prefix is evaluated once per group.
 *
 * The copy is node-llama-cpp's `_copyStateFromOtherSequence`, which its LlamaDecisionContext uses for the same
 * purpose (llama.cpp `llama_memory_seq_cp`: the source's KV buffer is copied, then the tail past the shared
 * prefix erased). It is internal to node-llama-cpp, so sharing turns itself off when the method is missing
 * (a future version): requests then evaluate their prefix as before. Models that need checkpoints to erase
 * part of a sequence (recurrent, hybrid, sliding-window attention) do not share either.
 *
 * Replies do not change: a token's keys and values depend only on the tokens before it, so a copied prefix is
 * the prefix the sequence would have evaluated (the byte-identical tests in kv-reuse.test.ts cover it).
 */
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { untilAborted } from "../../core/until-aborted.ts";
import { reusablePrefix } from "./kv-reuse.ts";

/**
 * Fewer tokens than this are evaluated rather than copied or waited for. A copy moves the source's whole KV
 * buffer (llama.cpp copies streams whole), which costs about as much as evaluating a few tokens on a small
 * model; on a large model the buffer grows with the model but so does every token's evaluation.
 */
export const MIN_SHARED_TOKENS = 32;

type CopyState = (other: LlamaContextSequence, upToTokenIndex: number) => Promise<boolean>;

interface Evaluation {
  prompt: readonly Token[];
  /** Resolves once the prompt is in the sequence's KV cache: its first sampled token, or the end of the generation. */
  evaluated: Promise<void>;
}

export interface SharingCounters {
  /** Prefixes copied from another sequence instead of evaluated. */
  copies: number;
  /** Requests that waited for another sequence to finish evaluating a prefix they share. */
  waits: number;
}

export class PrefixSharing {
  private readonly evaluations = new Map<LlamaContextSequence, Evaluation>();
  readonly counters: SharingCounters = { copies: 0, waits: 0 };

  constructor(private readonly sequences: readonly LlamaContextSequence[]) {}

  /** Whether this node-llama-cpp and this model can copy a prefix from one sequence to another. */
  static supported(sequence: LlamaContextSequence): boolean {
    return typeof copyStateOf(sequence) === "function" && !sequence.needsCheckpoints;
  }

  /**
   * Before `sequence` generates from `prompt`: waits while another sequence is evaluating a longer prefix of
   * `prompt` than any sequence holds, then copies in the longest prefix another sequence holds when it beats
   * what `sequence` holds by MIN_SHARED_TOKENS. Rejects with `signal.reason` if the signal fires while waiting.
   *
   * From the moment it stops waiting, `sequence` counts as evaluating `prompt`, so requests sharing its prefix
   * wait for it. That happens before any await: requests arriving together (one Promise.all, one claim) must
   * see each other. Call the returned function when the prompt is evaluated (first sampled token) and again
   * when the generation ends; later calls do nothing.
   */
  async prepare(sequence: LlamaContextSequence, prompt: readonly Token[], signal: AbortSignal): Promise<() => void> {
    for (;;) {
      const own = reusablePrefix(sequence, prompt);
      const held = this.longestHeld(sequence, prompt);
      const pending = this.longestPending(sequence, prompt);
      if (pending && pending.length >= Math.max(own, held?.length ?? 0) + MIN_SHARED_TOKENS) {
        this.counters.waits++;
        await untilAborted(pending.evaluation.evaluated, signal);
        continue;
      }
      const evaluated = this.evaluating(sequence, prompt);
      if (held && held.length >= own + MIN_SHARED_TOKENS) {
        try {
          await this.copy(sequence, held.source, held.length);
        } catch (error) {
          evaluated();
          throw error;
        }
      }
      return evaluated;
    }
  }

  private evaluating(sequence: LlamaContextSequence, prompt: readonly Token[]): () => void {
    let resolve!: () => void;
    const evaluation: Evaluation = { prompt, evaluated: new Promise<void>((done) => (resolve = done)) };
    this.evaluations.set(sequence, evaluation);
    return () => {
      if (this.evaluations.get(sequence) === evaluation) this.evaluations.delete(sequence);
      resolve();
    };
  }

  private longestHeld(target: LlamaContextSequence, prompt: readonly Token[]): { source: LlamaContextSequence; length: number } | null {
    let best: { source: LlamaContextSequence; length: number } | null = null;
    for (const source of this.sequences) {
      if (source === target || this.evaluations.has(source)) continue;
      const length = reusablePrefix(source, prompt);
      if (length > (best?.length ?? 0)) best = { source, length };
    }
    return best;
  }

  private longestPending(target: LlamaContextSequence, prompt: readonly Token[]): { evaluation: Evaluation; length: number } | null {
    let best: { evaluation: Evaluation; length: number } | null = null;
    for (const [source, evaluation] of this.evaluations) {
      if (source === target) continue;
      const length = Math.min(commonPrefix(evaluation.prompt, prompt), prompt.length - 1);
      if (length > (best?.length ?? 0)) best = { evaluation, length };
    }
    return best;
  }

  private async copy(target: LlamaContextSequence, source: LlamaContextSequence, length: number): Promise<void> {
    try {
      const copied = await copyStateOf(target)!.call(target, source, length);
      if (copied) {
        this.counters.copies++;
        return;
      }
    } catch {
      // Fall through: the state is unknown, and an empty sequence is the one state known to be right.
    }
    await target.clearHistory();
  }
}

function copyStateOf(sequence: LlamaContextSequence): CopyState | undefined {
  const method = (sequence as unknown as { _copyStateFromOtherSequence?: unknown })._copyStateFromOtherSequence;
  return typeof method === "function" ? (method as CopyState) : undefined;
}

function commonPrefix(a: readonly Token[], b: readonly Token[]): number {
  const length = Math.min(a.length, b.length);
  let index = 0;
  while (index < length && a[index] === b[index]) index++;
  return index;
}
