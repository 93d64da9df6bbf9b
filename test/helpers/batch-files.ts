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
