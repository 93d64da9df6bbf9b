/**
 * Whole input files that are odd rather than wrong line by line: encodings, line ends, empty files, too
 * many requests or errors, ids with odd characters. Each names the outcome its batch must reach.
 */
import { LIMITS } from "./corpus-app.ts";

const chat = (id: string, text = "hi"): string => JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "gpt-test", messages: [{ role: "user", content: text }] } });
const generate = (key: string, text = "hi"): string => JSON.stringify({ key, request: { contents: [{ parts: [{ text }] }] } });
const BOM = "\uFEFF";

export interface OpenAIFileCase {
  name: string;
  content: string | Buffer;
  /**
   * Completed with these custom ids in the output, failed with these error codes (in order), or refused
   * at upload (OpenAI's Files API checks a batch file's encoding, emptiness and first line).
   */
  expect: { completed: string[] } | { failedWith: string[] } | { refusedAtUpload: RegExp };
}

export const OPENAI_FILE_CASES: OpenAIFileCase[] = [
  { name: "a UTF-8 byte order mark and CRLF line ends", content: `${BOM}${chat("bom-1")}\r\n${chat("bom-2")}\r\n`, expect: { completed: ["bom-1", "bom-2"] } },
  { name: "a last line without a newline", content: `${chat("nl-1")}\n${chat("nl-2")}`, expect: { completed: ["nl-1", "nl-2"] } },
  { name: "blank and whitespace lines between requests", content: `\n${chat("blank-1")}\n   \n\t\n${chat("blank-2")}\n\n`, expect: { completed: ["blank-1", "blank-2"] } },
  { name: "an empty file", content: "", expect: { refusedAtUpload: /it is empty/ } },
  { name: "only blank lines", content: "\n \n\r\n", expect: { refusedAtUpload: /it is empty/ } },
  { name: "a byte order mark alone", content: BOM, expect: { refusedAtUpload: /it is empty/ } },
  { name: "binary bytes that are not UTF-8", content: Buffer.from(Array.from({ length: 600 }, (_, i) => 0x80 + (i % 0x70))), expect: { refusedAtUpload: /not UTF-8/ } },
  // UTF-16's "\n" is followed by a zero byte, which starts a second line.
  { name: "UTF-16 text", content: Buffer.from(`${chat("utf16")}\n`, "utf16le"), expect: { refusedAtUpload: /line 1 is not valid JSON/ } },
  {
    name: "more requests than maxBatchItems",
    content: `${Array.from({ length: LIMITS.maxBatchItems + 1 }, (_, i) => chat(`many-${i}`)).join("\n")}\n`,
    expect: { failedWith: ["too_many_tasks"] },
  },
  // A good first line passes the upload check; validation then lists the bad lines after it.
  { name: "10,001 bad lines", content: `${chat("first")}\n${"{\n".repeat(10_001)}`, expect: { failedWith: [...Array.from({ length: 10_000 }, () => "invalid_json_line"), "too_many_errors"] } },
  { name: "bytes that are not UTF-8 after a good line", content: Buffer.concat([Buffer.from(`${chat("ok")}\n`), Buffer.from([0xc3, 0x28])]), expect: { refusedAtUpload: /not UTF-8 .*line 2/ } },
  { name: "a first line that is a JSON array", content: `[1, 2]\n${chat("later")}\n`, expect: { refusedAtUpload: /line 1 is not a JSON object/ } },
];

/** custom ids and keys with odd characters (NUL aside: see issue 9 item 2), returned exactly as sent. */
export const ODD_IDS = [
  "\u0001", "\u001f", "\u007f", "tab\there", "new\nline", "carriage\rreturn", 'quote"', "back\\slash", "😀", "\uFFFF", "\u2028\u2029",
  "<script>alert(1)</script>", " leading", "trailing ", "%2F..%2F", "x".repeat(1_000), "é", "e\u0301", "\u202Eright-to-left",
];

export const OPENAI_ODD_IDS_FILE = `${ODD_IDS.map((id, i) => chat(id, `odd ${i}`)).join("\n")}\n`;
export const GEMINI_ODD_KEYS_FILE = `${ODD_IDS.map((key, i) => generate(key, `odd ${i}`)).join("\n")}\n`;

export interface GeminiFileCase {
  name: string;
  content: string | Buffer;
  /** Succeeded with a response for each of these keys, or failed naming this problem. */
  expect: { succeeded: string[] } | { failedWith: RegExp };
}

export const GEMINI_FILE_CASES: GeminiFileCase[] = [
  { name: "a UTF-8 byte order mark and CRLF line ends", content: `${BOM}${generate("bom-1")}\r\n${generate("bom-2")}\r\n`, expect: { succeeded: ["bom-1", "bom-2"] } },
  { name: "an empty file", content: "", expect: { failedWith: /no requests/ } },
  { name: "more requests than maxBatchItems", content: `${Array.from({ length: LIMITS.maxBatchItems + 1 }, (_, i) => generate(`many-${i}`)).join("\n")}\n`, expect: { failedWith: /more than 100 requests/ } },
];
