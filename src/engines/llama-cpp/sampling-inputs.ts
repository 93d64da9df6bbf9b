/**
 * What sampling needs beyond plain numbers: grammars for `response_format` (cached per process, they take
 * milliseconds to build) and TokenBias for `logit_bias` (checked against the vocabulary).
 */
import { TokenBias, type Llama, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import { invalidRequestError, type ResponseFormat, type SamplingParams } from "./openai-request.ts";

const GRAMMAR_CACHE_SIZE = 64;

/** Grammars by format, oldest dropped past GRAMMAR_CACHE_SIZE; a grammar that failed to build is not kept. */
export class GrammarCache {
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();

  async forFormat(llama: Llama, format: ResponseFormat): Promise<LlamaGrammar | undefined> {
    if (format.type === "text") return undefined;
    if (format.type === "json_object") return this.cached("json_object", () => llama.getGrammarFor("json"));
    const key = JSON.stringify(format.schema);
    try {
      // node-llama-cpp implements a subset of JSON Schema; it throws on what it cannot express.
      return await this.cached(`schema:${key}`, () => llama.createGrammarForJsonSchema(format.schema as Parameters<Llama["createGrammarForJsonSchema"]>[0]));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw invalidRequestError(`Unsupported value for 'response_format.json_schema.schema': ${message}`, "response_format.json_schema.schema");
    }
  }

  clear(): void {
    this.grammars.clear();
  }

  private cached(key: string, create: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> {
    let grammar = this.grammars.get(key);
    if (!grammar) {
      grammar = create();
      grammar.catch(() => this.grammars.delete(key));
      if (this.grammars.size >= GRAMMAR_CACHE_SIZE) this.grammars.delete(this.grammars.keys().next().value!);
      this.grammars.set(key, grammar);
    }
    return grammar;
  }
}

/** The request's `logit_bias` as node-llama-cpp's TokenBias (-100 or lower bans the token), or undefined. */
export function tokenBiasFor(model: LlamaModel, vocabularySize: number, sampling: SamplingParams): TokenBias | undefined {
  if (sampling.logitBias.size === 0) return undefined;
  const bias = new TokenBias(model.tokenizer);
  for (const [token, logit] of sampling.logitBias) {
    if (token >= vocabularySize) {
      throw invalidRequestError(`Invalid value for 'logit_bias': token id ${token} is outside the vocabulary of ${vocabularySize} tokens.`, "logit_bias");
    }
    bias.set(token as Token, logit <= -100 ? "never" : { logit });
  }
  return bias;
}
