/** Builders for batch input files used across tests and benchmarks. */
export function chatLine(clientId: string, text: string, model = "gpt-test", extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    custom_id: clientId,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model, messages: [{ role: "user", content: text }], max_tokens: 16, ...extra },
  });
}

export function chatFile(count: number, options: { model?: string; prefix?: string } = {}): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i += 1) lines.push(chatLine(`req-${i}`, `${options.prefix ?? "prompt"} ${i}`, options.model));
  return `${lines.join("\n")}\n`;
}

/**
 * A chat file whose lines cycle through `prefixes` distinct system prompts (line i gets prompt i % prefixes),
 * so Items sharing a prefix are as far apart as they can be: what prefix-aware claim order regroups. The
 * user text stays `${prefix} ${i}` as in chatFile, so upstream counts by key work the same.
 */
export function interleavedPrefixFile(count: number, options: { prefixes: number; systemChars?: number; model?: string; prefix?: string; temperature?: number }): string {
  const system = (group: number): string => `System prompt ${group}: ${"you answer briefly and precisely. ".repeat(Math.ceil((options.systemChars ?? 400) / 34))}`.slice(0, options.systemChars ?? 400);
  const lines: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const messages = [
      { role: "system", content: system(i % options.prefixes) },
      { role: "user", content: `${options.prefix ?? "prompt"} ${i}` },
    ];
    const extra = options.temperature === undefined ? { messages } : { messages, temperature: options.temperature };
    lines.push(chatLine(`req-${i}`, "", options.model, extra));
  }
  return `${lines.join("\n")}\n`;
}

/** The system prompt group of line `i` of an interleavedPrefixFile. */
export function systemPromptGroup(systemText: string): number {
  return Number(/^System prompt (\d+):/.exec(systemText)?.[1] ?? -1);
}
