/** `spool validate FILE`: every problem printed with its line number; exit code 1 if any, 0 if none. */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { makeDataDir, writeConfigFile } from "../helpers/spool-app.ts";

const BIN = path.join(process.cwd(), "bin", "spool.js");

function validate(file: string, ...args: string[]): { status: number | null; stdout: string } {
  const result = spawnSync(process.execPath, [BIN, "validate", file, ...args], { encoding: "utf8", env: { ...process.env, SPOOL_CONFIG: "" }, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout + result.stderr };
}

describe("spool validate", () => {
  const dir = makeDataDir("cli-validate");

  it("prints every bad line of an OpenAI file with its line number and field, and exits 1", () => {
    const file = path.join(dir, "bad.jsonl");
    writeFileSync(
      file,
      [
        chatLine("a", "fine"),
        "{broken",
        chatLine("a", "duplicate"),
        JSON.stringify({ custom_id: "m", method: "GET", url: "/v1/chat/completions", body: { model: "gpt-test", messages: [] } }),
        "",
        JSON.stringify({ custom_id: "u", method: "POST", url: "/v1/embeddings", body: { model: "gpt-test", input: "x" } }),
      ].join("\n"),
    );
    const { status, stdout } = validate(file);
    expect(status).toBe(1);
    expect(stdout).toMatch(/^line 2: invalid_json_line/m);
    expect(stdout).toMatch(/^line 3: duplicate_custom_id \(custom_id\)/m);
    expect(stdout).toMatch(/^line 4: invalid_value \(method\)/m);
    expect(stdout).toMatch(/^line 4: .*\(body\.messages\)/m);
    expect(stdout).toMatch(/^line 6: invalid_url \(url\)/m);
    expect(stdout).not.toMatch(/^line 1:/m);
    expect(stdout).not.toMatch(/^line 5:/m);
  });

  it("estimates tokens and, for a priced Model in the config, the cost before anything runs", () => {
    const file = path.join(dir, "estimate.jsonl");
    // 40 characters of text each (10 tokens) + 4 for the message; max_tokens 16 each (chatLine's default).
    writeFileSync(file, `${[chatLine("a", "x".repeat(40), "gpt-priced"), chatLine("b", "y".repeat(40), "gpt-priced")].join("\n")}\n`);
    const config = writeConfigFile(dir, {
      models: [{ name: "gpt-priced", engine: "openai", baseUrl: "http://127.0.0.1:9/v1", price: { input: 1_000_000, output: 2_000_000, batchDiscount: 0.5 } }],
    });
    const { status, stdout } = validate(file, "--config", config);
    expect(status).toBe(0);
    // Input 2 x 14 tokens at $1 each, output <= 2 x 16 at $2 each: $92 sync, $46 at batch price.
    expect(stdout).toContain("estimate gpt-priced: 2 requests, ~28 input tokens, <= 32 output tokens; cost <= $46.0000 at batch price ($92.0000 sync)");
  });

  it("accepts a good file and exits 0", () => {
    const file = path.join(dir, "good.jsonl");
    writeFileSync(file, `${[chatLine("a", "one"), chatLine("b", "two")].join("\n")}\n`);
    const { status, stdout } = validate(file);
    expect(status).toBe(0);
    expect(stdout).toContain("2 requests, no problems");
  });

  it("checks models against a config when given one", () => {
    const file = path.join(dir, "models.jsonl");
    writeFileSync(file, [chatLine("a", "one", "gpt-test"), chatLine("b", "two", "gpt-test")].join("\n"));
    const configPath = writeConfigFile(dir, { models: [{ name: "other-model", engine: "openai", baseUrl: "http://127.0.0.1:9/v1" }] });
    const { status, stdout } = validate(file, "--config", configPath);
    expect(status).toBe(1);
    expect(stdout).toMatch(/^line 1: model_not_found \(body\.model\): .*Configured models: other-model/m);
  });

  it("sniffs a Gemini file and names the field of a bad line", () => {
    const file = path.join(dir, "gemini.jsonl");
    writeFileSync(file, [JSON.stringify({ key: "k1", request: { contents: [{ parts: [{ text: "hi" }] }] } }), JSON.stringify({ key: "k2", request: {} })].join("\n"));
    const { status, stdout } = validate(file);
    expect(status).toBe(1);
    expect(stdout).toMatch(/^line 2: .*request\.contents/m);
    expect(stdout).not.toMatch(/^line 1:/m);
    expect(stdout).toMatch(/: 1 problem in 2 requests\./m);
  });

  it("sniffs an Anthropic file of {custom_id, params} lines, names each bad field, and reports duplicate ids", () => {
    const line = (id: string, params: Record<string, unknown>): string => JSON.stringify({ custom_id: id, params: { model: "claude", max_tokens: 5, messages: [{ role: "user", content: "hi" }], ...params } });
    const file = path.join(dir, "anthropic.jsonl");
    writeFileSync(file, [line("a", {}), line("b", { max_tokens: undefined }), line("a", {}), line("c d", { temperature: 2 })].join("\n"));
    const { status, stdout } = validate(file);
    expect(status).toBe(1);
    expect(stdout).toMatch(/^line 2: missing_required_parameter \(params\.max_tokens\): Line 2 \(custom_id "b"\): params\.max_tokens: Field required/m);
    expect(stdout).toMatch(/^line 3: duplicate_custom_id \(custom_id\)/m);
    expect(stdout).toMatch(/^line 4: invalid_custom_id \(custom_id\)/m);
    expect(stdout).toMatch(/^line 4: invalid_value \(params\.temperature\)/m);
    expect(stdout).not.toMatch(/^line 1:/m);
    expect(stdout).toContain("4 problems in 4 requests");
  });

  it("warns about a Gemini line without a key (its result line would have none) and still exits 0", () => {
    const file = path.join(dir, "gemini-no-key.jsonl");
    writeFileSync(file, [JSON.stringify({ key: "k1", request: { contents: [{ parts: [{ text: "hi" }] }] } }), JSON.stringify({ request: { contents: [{ parts: [{ text: "hi" }] }] } })].join("\n"));
    const { status, stdout } = validate(file);
    expect(status).toBe(0);
    expect(stdout).toContain(
      `warning: line 2: missing_key (key): Line 2: no "key": its result line will carry no key either, so it can only be matched to this request by position. Add "key": "<unique id>".\n`,
    );
    expect(stdout).toContain(`${file}: 2 requests, no problems, 1 warning (gemini, batchGenerateContent).`);
  });

  it("checks --model against the config for Gemini and OpenAI files alike, in one line with exit code 2", () => {
    const gemini = path.join(dir, "gemini-model.jsonl");
    writeFileSync(gemini, JSON.stringify({ key: "k1", request: { contents: [{ parts: [{ text: "hi" }] }] } }));
    const openai = path.join(dir, "openai-model.jsonl");
    writeFileSync(openai, chatLine("a", "one", "gpt-test"));
    const config = writeConfigFile(dir, { models: [{ name: "gpt-test", engine: "openai", baseUrl: "http://127.0.0.1:9/v1" }] });
    for (const file of [gemini, openai]) {
      expect(validate(file, "--config", config, "--model", "nope")).toEqual({ status: 2, stdout: "spool validate: --model: Model 'nope' is not configured. Configured models: gpt-test.\n" });
    }
    expect(validate(gemini, "--config", config, "--model", "gpt-test")).toMatchObject({ status: 0, stdout: expect.stringContaining(`${gemini}: 1 request, no problems`) });
  });

  it("reports a line whose model differs from the first line's as model_mismatch with or without a config, plus model_not_found with one", () => {
    const file = path.join(dir, "two-models.jsonl");
    writeFileSync(file, [chatLine("a", "one", "gpt-test"), chatLine("b", "two", "nope")].join("\n"));
    const mismatch = "line 2: model_mismatch (body.model): Line 2: 'body.model' is 'nope' but earlier lines use 'gpt-test'; all requests of a batch file must use the same model.";
    const bare = validate(file);
    expect(bare.status).toBe(1);
    expect(bare.stdout).toBe(`${mismatch}\n${file}: 1 problem in 2 requests. Models were not checked: pass --config to check them against a config.\n`);
    const config = writeConfigFile(dir, { models: [{ name: "gpt-test", engine: "openai", baseUrl: "http://127.0.0.1:9/v1" }] });
    const checked = validate(file, "--config", config);
    expect(checked.status).toBe(1);
    expect(checked.stdout).toBe(
      `line 2: model_not_found (body.model): Line 2 (custom_id "b"): Model 'nope' is not configured. Configured models: gpt-test.\n${mismatch}\n${file}: 2 problems in 2 requests.\n`,
    );
    // --model runs every request on one model, as `spool run -m` does: nothing left to mismatch.
    expect(validate(file, "--config", config, "--model", "gpt-test")).toMatchObject({ status: 0, stdout: expect.stringContaining(`${file}: 2 requests, no problems`) });
  });

  it("counts every request line in the summary, valid or not, in singular when one", () => {
    const file = path.join(dir, "one-bad.jsonl");
    writeFileSync(file, JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "gpt-test" } }));
    const { status, stdout } = validate(file);
    expect(status).toBe(1);
    expect(stdout).toMatch(/: 1 problem in 1 request\. Models were not checked/m);
  });

  it("ignores a UTF-8 byte order mark at the start of a file, in both dialects", () => {
    const bom = "\uFEFF";
    const gemini = path.join(dir, "bom-gemini.jsonl");
    writeFileSync(gemini, `${bom}${JSON.stringify({ key: "k1", request: { contents: [{ parts: [{ text: "hi" }] }] } })}\r\n`);
    const sniffed = validate(gemini);
    expect(sniffed.stdout).toContain(": 1 request, no problems");
    expect(sniffed.status).toBe(0);
    const openai = path.join(dir, "bom-openai.jsonl");
    writeFileSync(openai, `${bom}${chatLine("a", "one")}\r\n${chatLine("b", "two")}\r\n`);
    expect(validate(openai)).toMatchObject({ status: 0, stdout: expect.stringContaining("2 requests, no problems") });
  });
});

