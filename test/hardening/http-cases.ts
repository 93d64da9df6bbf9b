/**
 * Hostile requests at the HTTP edge of every dialect: URLs and ids with odd bytes, broken HTTP, bad and
 * huge bodies, broken uploads, bad batch creations. Each names the reply it must get, in the envelope of
 * the dialect its path belongs to; `ok` cases are hostile-looking inputs that are valid and must work.
 */
import type { Dialect, ExpectedError, Sent } from "./corpus-app.ts";
import { LIMITS } from "./corpus-app.ts";

export interface HttpCase {
  name: string;
  dialect: Dialect;
  send: Sent | ((url: string) => Promise<Sent>);
  /** The error reply; `{ ok }` a success status; "answered-or-closed" when no reply may be possible. */
  expect: ExpectedError | { ok: number } | "answered-or-closed";
}

/** A request line sent as is (fetch would normalise `..` and `%2e` segments away). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body = ""): Sent {
  const lines = [`${method} ${path} HTTP/1.1`, "Host: corpus", "Connection: close", `Content-Length: ${Buffer.byteLength(body)}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return { raw: `${lines.join("\r\n")}\r\n\r\n${body}` };
}

const json = (path: string, body: string, method = "POST"): Sent => ({ method, path, headers: { "content-type": "application/json" }, body });

/** Ids that decode to odd but valid text: looked up, and not found. */
const ODD_IDS = [
  "%01", "%7F", "a%20b", "..", "%2E%2E", "%2F", "%5C", "%0D%0A", "%F0%9F%98%80", "%EF%BF%BF", "%E2%80%AE", "'%22%3Cscript%3E", "%25", "%3F",
  "file-", "x".repeat(5_000),
];
/** Ids whose percent-encoding does not decode to UTF-8: the URL itself is malformed. */
const MALFORMED_IDS = ["%ZZ", "%", "%F", "%FF", "%C0%AF", "%ED%A0%80", "%F4%90%80%80", "%E2%82"];

const ID_ROUTES: { dialect: Dialect; method: string; path: (id: string) => string; inQuery?: boolean }[] = [
  { dialect: "openai", method: "GET", path: (id) => `/v1/files/${id}` },
  { dialect: "openai", method: "GET", path: (id) => `/v1/files/${id}/content` },
  { dialect: "openai", method: "DELETE", path: (id) => `/v1/files/${id}` },
  { dialect: "openai", method: "GET", path: (id) => `/v1/batches/${id}` },
  { dialect: "openai", method: "POST", path: (id) => `/v1/batches/${id}/cancel` },
  { dialect: "openai", method: "GET", path: (id) => `/v1/batches/${id}/results` },
  { dialect: "openai", method: "GET", path: (id) => `/v1/models/${id}` },
  { dialect: "openai", method: "GET", path: (id) => `/v1beta/openai/files/${id}` },
  { dialect: "openai", method: "GET", path: (id) => `/v1beta/openai/batches/${id}` },
  { dialect: "google", method: "GET", path: (id) => `/v1beta/files/${id}` },
  { dialect: "google", method: "DELETE", path: (id) => `/v1beta/files/${id}` },
  { dialect: "google", method: "GET", path: (id) => `/v1beta/batches/${id}` },
  { dialect: "google", method: "POST", path: (id) => `/v1beta/batches/${id}:cancel` },
  { dialect: "google", method: "GET", path: (id) => `/v1beta/models/${id}` },
  { dialect: "google", method: "GET", path: (id) => `/download/v1beta/files/${id}:download` },
  { dialect: "google", method: "POST", path: (id) => `/upload/v1beta/files?upload_id=${id}`, inQuery: true },
  { dialect: "anthropic", method: "GET", path: (id) => `/v1/messages/batches/${id}` },
  { dialect: "anthropic", method: "POST", path: (id) => `/v1/messages/batches/${id}/cancel` },
  { dialect: "anthropic", method: "DELETE", path: (id) => `/v1/messages/batches/${id}` },
  { dialect: "anthropic", method: "GET", path: (id) => `/v1/messages/batches/${id}/results` },
];

function idCases(): HttpCase[] {
  const cases: HttpCase[] = [];
  for (const route of ID_ROUTES) {
    for (const id of ODD_IDS) {
      const path = route.path(id);
      cases.push({ name: `${route.method} ${path.slice(0, 60)}`, dialect: route.dialect, send: raw(route.method, path), expect: { status: 404 } });
    }
    for (const id of MALFORMED_IDS) {
      const path = route.path(id);
      // Query strings are decoded leniently (a bad escape stays as written), so such an id is just unknown.
      const expect = route.inQuery ? { status: 404 } : { status: 400, param: "url" };
      cases.push({ name: `${route.method} ${path}`, dialect: route.dialect, send: raw(route.method, path), expect });
    }
  }
  return cases;
}

const deep = (levels: number): string => `${"[".repeat(levels)}${"]".repeat(levels)}`;
const chatBody = (content: string): string => `{"model":"gpt-test","messages":[{"role":"user","content":${content}}]}`;
const generateBody = (text: string): string => `{"contents":[{"parts":[{"text":${text}}]}]}`;
const messageBody = (content: string): string => `{"model":"gpt-test","max_tokens":5,"messages":[{"role":"user","content":${content}}]}`;
const overLimit = (): string => `{"model":"gpt-test","messages":[{"role":"user","content":"${"x".repeat(33 * 1024 * 1024)}"}]}`;

function multipart(parts: { name: string; filename?: string; content: string }[], boundary = "CORPUS", close = true): Sent {
  const body = parts.map((part) => `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ""}\r\n\r\n${part.content}\r\n`).join("");
  return { method: "POST", path: "/v1/files", headers: { "content-type": `multipart/form-data; boundary=${boundary}` }, body: `${body}${close ? `--${boundary}--\r\n` : ""}` };
}

async function resumableSession(url: string, declared: number): Promise<string> {
  const start = await fetch(`${url}/upload/v1beta/files`, {
    method: "POST",
    headers: { "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start", "x-goog-upload-header-content-length": String(declared), "content-type": "application/json" },
    body: "{}",
  });
  const location = new URL(start.headers.get("x-goog-upload-url") ?? "");
  return `${location.pathname}${location.search}`;
}

const uploadStart = (body: string, headers: Record<string, string> = {}): Sent => ({
  method: "POST",
  path: "/upload/v1beta/files",
  headers: { "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start", "content-type": "application/json", ...headers },
  body,
});

export const HTTP_CASES: HttpCase[] = [
  ...idCases(),

  // The URL and the HTTP exchange itself.
  { name: "a 100 KB URL (OpenAI)", dialect: "openai", send: { path: `/v1/files?after=${"a".repeat(100_000)}` }, expect: { status: 414, code: "uri_too_long" } },
  { name: "a 100 KB URL (Gemini)", dialect: "google", send: { path: `/v1beta/files?pageToken=${"a".repeat(100_000)}` }, expect: { status: 414, code: "INVALID_ARGUMENT" } },
  { name: "20 KB of headers", dialect: "openai", send: { path: "/v1/files", headers: { "x-padding": "p".repeat(20_000) } }, expect: { status: 431, code: "headers_too_large" } },
  { name: "bytes that are not HTTP", dialect: "openai", send: { raw: "\u0016\u0003\u0001\u0002\u0000garbage\r\n\r\n" }, expect: { status: 400, code: "malformed_http" } },
  { name: "an unknown HTTP method", dialect: "openai", send: { raw: "BREW /v1/files HTTP/1.1\r\nHost: x\r\n\r\n" }, expect: { status: 400, code: "malformed_http" } },
  { name: "a header name with a space", dialect: "google", send: { raw: "GET /v1beta/files HTTP/1.1\r\nBad Header: x\r\n\r\n" }, expect: { status: 400, code: "INVALID_ARGUMENT", message: /HPE_INVALID_HEADER_TOKEN/ } },
  { name: "a bad chunk size", dialect: "openai", send: { raw: "POST /v1/batches HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n" }, expect: { status: 400, code: "malformed_http" } },
  { name: "a JSON body cut short (OpenAI)", dialect: "openai", send: { raw: "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":", end: true }, expect: "answered-or-closed" },
  { name: "a JSON body cut short (Gemini)", dialect: "google", send: { raw: "POST /v1beta/models/gpt-test:generateContent HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"contents\":", end: true }, expect: "answered-or-closed" },
  { name: "PUT on a GET route (OpenAI)", dialect: "openai", send: { method: "PUT", path: "/v1/files" }, expect: { status: 404, code: "not_found" } },
  { name: "PATCH on a GET route (Gemini)", dialect: "google", send: { method: "PATCH", path: "/v1beta/files" }, expect: { status: 404, code: "NOT_FOUND" } },
  { name: "an unknown Gemini method", dialect: "google", send: json("/v1beta/models/gpt-test:explode", "{}"), expect: { status: 404, code: "NOT_FOUND" } },
  { name: "a path outside every dialect", dialect: "openai", send: { path: "/v2/files" }, expect: { status: 404, code: "not_found" } },

  // JSON bodies.
  { name: "not JSON (OpenAI)", dialect: "openai", send: json("/v1/batches", "{nope"), expect: { status: 400, message: /not valid JSON: .*position 1/ } },
  { name: "not JSON (Gemini)", dialect: "google", send: json("/v1beta/models/gpt-test:generateContent", "{nope"), expect: { status: 400, code: "INVALID_ARGUMENT", message: /Invalid JSON payload/ } },
  { name: "single-quoted pseudo-JSON (Gemini)", dialect: "google", send: json("/v1beta/models/gpt-test:generateContent", "{'contents': []}"), expect: { status: 400, message: /use double quotes/ } },
  { name: "a __proto__ key", dialect: "openai", send: json("/v1/batches", '{"__proto__":{"polluted":true}}'), expect: { status: 400, message: /__proto__/ } },
  { name: "a constructor.prototype key", dialect: "google", send: json("/v1beta/models/gpt-test:generateContent", '{"constructor":{"prototype":{"polluted":true}}}'), expect: { status: 400, message: /constructor\.prototype/ } },
  { name: "a JSON array body", dialect: "openai", send: json("/v1/batches", "[]"), expect: { status: 400 } },
  { name: "a JSON null body", dialect: "openai", send: json("/v1/chat/completions", "null"), expect: { status: 400 } },
  { name: "a JSON string body (Gemini)", dialect: "google", send: json("/v1beta/models/gpt-test:generateContent", '"hi"'), expect: { status: 400 } },
  { name: "an empty create body", dialect: "openai", send: json("/v1/batches", ""), expect: { status: 400, param: "input_file_id" } },
  { name: "an XML body", dialect: "openai", send: { method: "POST", path: "/v1/batches", headers: { "content-type": "application/xml" }, body: "<a/>" }, expect: { status: 415, code: "unsupported_media_type" } },
  { name: "JSON nested 100,000 levels (OpenAI sync)", dialect: "openai", send: json("/v1/chat/completions", chatBody(deep(100_000))), expect: { status: 400, param: "messages[0].content[0][0][0][0][0]" } },
  { name: "JSON nested 100,000 levels (Gemini sync)", dialect: "google", send: json("/v1beta/models/gpt-test:generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseJsonSchema":${deep(100_000)}}}`), expect: { status: 400, param: "generationConfig.responseJsonSchema[0][0][0][0][0][0]" } },
  { name: "JSON nested 100,000 levels (Gemini inline batch)", dialect: "google", send: json("/v1beta/models/gpt-test:batchGenerateContent", `{"batch":{"inputConfig":{"requests":{"requests":[{"request":${generateBody(deep(100_000))}}]}}}}`), expect: { status: 400, param: "batch.inputConfig.requests.requests[0].request.contents[0]" } },
  { name: "JSON nested 100,000 levels (OpenAI batch metadata)", dialect: "openai", send: json("/v1/batches", `{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"24h","metadata":{"a":${deep(100_000)}}}`), expect: { status: 400, param: "metadata.a[0][0][0][0][0][0]" } },
  { name: "a 1 MB message (valid)", dialect: "openai", send: json("/v1/chat/completions", chatBody(JSON.stringify("y".repeat(1024 * 1024)))), expect: { ok: 200 } },
  { name: "a 100,000-key object (valid)", dialect: "openai", send: json("/v1/chat/completions", `{"model":"gpt-test","messages":[{"role":"user","content":"wide"}],"metadata":{${Array.from({ length: 100_000 }, (_, i) => `"k${i}":${i}`).join(",")}}}`), expect: { ok: 200 } },
  { name: "a body over the 32 MiB limit (OpenAI)", dialect: "openai", send: () => Promise.resolve(json("/v1/chat/completions", overLimit())), expect: { status: 413 } },
  { name: "a body over the 32 MiB limit (Gemini)", dialect: "google", send: () => Promise.resolve(json("/v1beta/models/gpt-test:generateContent", overLimit())), expect: { status: 413, code: "INVALID_ARGUMENT" } },

  // Batch creation bodies.
  // As at OpenAI, the create succeeds and the batch fails in validation naming file_id.
  { name: "a batch over an unknown file", dialect: "openai", send: json("/v1/batches", '{"input_file_id":"file-nope","endpoint":"/v1/chat/completions","completion_window":"24h"}'), expect: { ok: 200 } },
  { name: "a batch for an unsupported endpoint", dialect: "openai", send: json("/v1/batches", '{"input_file_id":"file-x","endpoint":"/v1/images/generations","completion_window":"24h"}'), expect: { status: 400, param: "endpoint" } },
  { name: "a completion window of forever", dialect: "openai", send: json("/v1/batches", '{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"forever"}'), expect: { status: 400, param: "completion_window" } },
  { name: "an unknown create field", dialect: "openai", send: json("/v1/batches", '{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"24h","priorty":9}'), expect: { status: 400, param: "priorty" } },
  { name: "a priority that is not an integer", dialect: "openai", send: json("/v1/batches", '{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"24h","priority":"high"}'), expect: { status: 400, param: "priority" } },
  { name: "a priority in metadata that is not an integer", dialect: "openai", send: json("/v1/batches", '{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"24h","metadata":{"priority":"1e9"}}'), expect: { status: 400, param: "metadata.priority" } },
  { name: "17 metadata pairs", dialect: "openai", send: json("/v1/batches", JSON.stringify({ input_file_id: "file-x", endpoint: "/v1/chat/completions", completion_window: "24h", metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) })), expect: { status: 400, param: "metadata" } },
  { name: "a Gemini batch without batch", dialect: "google", send: json("/v1beta/models/gpt-test:batchGenerateContent", "{}"), expect: { status: 400, param: "batch" } },
  { name: "a Gemini batch with a file and requests", dialect: "google", send: json("/v1beta/models/gpt-test:batchGenerateContent", '{"batch":{"inputConfig":{"fileName":"files/x","requests":{"requests":[]}}}}'), expect: { status: 400, param: "batch.inputConfig" } },
  { name: "a Gemini batch of no requests", dialect: "google", send: json("/v1beta/models/gpt-test:batchGenerateContent", '{"batch":{"inputConfig":{"requests":{"requests":[]}}}}'), expect: { status: 400, param: "batch.inputConfig.requests.requests" } },
  { name: "a Gemini inline request without contents", dialect: "google", send: json("/v1beta/models/gpt-test:batchGenerateContent", `{"batch":{"inputConfig":{"requests":{"requests":[{"request":${generateBody('"ok"')}},{"request":{"contents":[]}}]}}}}`), expect: { status: 400, param: "batch.inputConfig.requests.requests[1].request.contents" } },
  { name: "a Gemini batch for an unknown model", dialect: "google", send: json("/v1beta/models/nope:batchGenerateContent", '{"batch":{"inputConfig":{"fileName":"files/x"}}}'), expect: { status: 404, code: "NOT_FOUND" } },
  { name: "a Gemini batch over an unknown file", dialect: "google", send: json("/v1beta/models/gpt-test:batchGenerateContent", '{"batch":{"inputConfig":{"fileName":"files/nope"}}}'), expect: { status: 404, code: "NOT_FOUND", message: /^batch\.inputConfig\.fileName: File files\/nope was not found/ } },

  // The Anthropic surface (under OpenAI's /v1, answering in its own envelope).
  { name: "not JSON (Anthropic)", dialect: "anthropic", send: json("/v1/messages", "{nope"), expect: { status: 400, code: "invalid_request_error", message: /not valid JSON: .*position 1/ } },
  { name: "an unknown route under /v1/messages", dialect: "anthropic", send: { path: "/v1/messages/nope" }, expect: { status: 404, code: "not_found_error" } },
  { name: "PUT on the Message Batches list", dialect: "anthropic", send: { method: "PUT", path: "/v1/messages/batches" }, expect: { status: 404, code: "not_found_error" } },
  { name: "JSON nested 100,000 levels (Anthropic sync)", dialect: "anthropic", send: json("/v1/messages", messageBody(deep(100_000))), expect: { status: 400, param: "messages[0].content[0][0][0][0][0]" } },
  { name: "a body over the 32 MiB limit (Anthropic)", dialect: "anthropic", send: () => Promise.resolve(json("/v1/messages/batches", overLimit())), expect: { status: 413, code: "request_too_large" } },
  { name: "a JSON array as an Anthropic message", dialect: "anthropic", send: json("/v1/messages", "[]"), expect: { status: 400, code: "invalid_request_error" } },
  { name: "a message with every field wrong", dialect: "anthropic", send: json("/v1/messages", '{"model":7,"max_tokens":"x","messages":{},"system":5,"tools":"t"}'), expect: { status: 400, param: "model", message: /max_tokens: must be an integer.*messages: must be a list.*system: must be a string.*tools: must be a list/ } },
  { name: "a streamed message (valid)", dialect: "anthropic", send: json("/v1/messages", `{"model":"gpt-test","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}`), expect: { ok: 200 } },
  { name: "a Message Batch with a duplicate custom_id", dialect: "anthropic", send: json("/v1/messages/batches", `{"requests":[{"custom_id":"a","params":${messageBody('"x"')}},{"custom_id":"a","params":${messageBody('"y"')}}]}`), expect: { status: 400, param: "requests.1.custom_id", message: /duplicate value 'a'/ } },
  { name: "a Message Batch body that is not JSON", dialect: "anthropic", send: json("/v1/messages/batches", '{"requests": [{"custom_id": "a"}, oops]}'), expect: { status: 400, code: "invalid_request_error", message: /requests\.1: is not valid JSON/ } },
  { name: "a Message Batch body with a trailing comma", dialect: "anthropic", send: json("/v1/messages/batches", '{"requests": [{"custom_id": "a"},]}'), expect: { status: 400, code: "invalid_request_error", message: /^The request body is not valid JSON: expected a value at byte 33\.$/ } },
  { name: "a Message Batch body cut short", dialect: "anthropic", send: { raw: 'POST /v1/messages/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"requests": [', end: true }, expect: "answered-or-closed" },
  { name: "a Message Batch request nested 5,000 levels", dialect: "anthropic", send: json("/v1/messages/batches", `{"requests":[{"custom_id":"a","params":${deep(5_000)}}]}`), expect: { status: 400, param: "requests.0", message: /nests JSON too deeply/ } },
  { name: "a Message Batch as XML", dialect: "anthropic", send: { method: "POST", path: "/v1/messages/batches", headers: { "content-type": "application/xml" }, body: "<a/>" }, expect: { status: 415, code: "invalid_request_error" } },
  { name: "a Message Batch without requests", dialect: "anthropic", send: json("/v1/messages/batches", "{}"), expect: { status: 400, param: "requests" } },
  { name: "a Message Batch over the request limit", dialect: "anthropic", send: json("/v1/messages/batches", `{"requests":[${Array(LIMITS.maxBatchItems + 1).fill("0").join(",")}]}`), expect: { status: 400, param: "requests", message: /the limit is/ } },
  { name: "a Message Batch list with limit 1001", dialect: "anthropic", send: { path: "/v1/messages/batches?limit=1001" }, expect: { status: 400, param: "limit" } },
  { name: "a Message Batch list after an unknown id", dialect: "anthropic", send: { path: "/v1/messages/batches?after_id=msgbatch_nope" }, expect: { status: 400, param: "after_id" } },
  { name: "a 1 MB Anthropic message (valid)", dialect: "anthropic", send: json("/v1/messages", messageBody(JSON.stringify("y".repeat(1024 * 1024)))), expect: { ok: 200 } },

  // Uploads.
  { name: "an OpenAI upload over the limit", dialect: "openai", send: multipart([{ name: "purpose", content: "batch" }, { name: "file", filename: "big.jsonl", content: "x".repeat(LIMITS.maxUploadBytes + 1) }]), expect: { status: 413, param: "file" } },
  { name: "an OpenAI multipart upload without its closing boundary", dialect: "openai", send: multipart([{ name: "purpose", content: "batch" }, { name: "file", filename: "a.jsonl", content: "{}" }], "CUT", false), expect: { status: 400 } },
  { name: "an OpenAI upload without a file part", dialect: "openai", send: multipart([{ name: "purpose", content: "batch" }]), expect: { status: 400, param: "file" } },
  { name: "an OpenAI upload with the file in another part", dialect: "openai", send: multipart([{ name: "purpose", content: "batch" }, { name: "data", filename: "a.jsonl", content: "{}" }]), expect: { status: 400, param: "data" } },
  { name: "an OpenAI upload without purpose", dialect: "openai", send: multipart([{ name: "file", filename: "a.jsonl", content: "{}" }]), expect: { status: 400, param: "purpose" } },
  { name: "an OpenAI upload as JSON", dialect: "openai", send: json("/v1/files", '{"file":"x"}'), expect: { status: 400 } },
  { name: "an OpenAI multipart upload without a boundary", dialect: "openai", send: { method: "POST", path: "/v1/files", headers: { "content-type": "multipart/form-data" }, body: "x" }, expect: { status: 400 } },
  { name: "a Gemini upload over the limit", dialect: "google", send: { method: "POST", path: "/upload/v1beta/files", headers: { "content-type": "application/jsonl" }, body: "x".repeat(LIMITS.maxGeminiUploadBytes + 1) }, expect: { status: 413 } },
  { name: "a Gemini upload declaring 1 GiB", dialect: "google", send: uploadStart("{}", { "x-goog-upload-header-content-length": String(1024 ** 3) }), expect: { status: 413 } },
  { name: "a Gemini upload declaring a size of abc", dialect: "google", send: uploadStart("{}", { "x-goog-upload-header-content-length": "abc" }), expect: { status: 400, param: "X-Goog-Upload-Header-Content-Length" } },
  { name: "Gemini upload metadata that is not JSON", dialect: "google", send: uploadStart("{file:"), expect: { status: 400, param: "file" } },
  { name: "a 600-character Gemini displayName", dialect: "google", send: uploadStart(JSON.stringify({ file: { displayName: "d".repeat(600) } })), expect: { status: 400, param: "file.displayName" } },
  { name: "a Gemini file name with spaces", dialect: "google", send: uploadStart(JSON.stringify({ file: { name: "files/BAD NAME" } })), expect: { status: 400, param: "file.name" } },
  {
    name: "a Gemini chunk at the wrong offset",
    dialect: "google",
    send: async (url) => ({ method: "POST", path: await resumableSession(url, 10), headers: { "x-goog-upload-command": "upload", "x-goog-upload-offset": "5" }, body: "12345" }),
    expect: { status: 400, param: "X-Goog-Upload-Offset" },
  },
  {
    name: "a Gemini upload finalized short of its declared size",
    dialect: "google",
    send: async (url) => ({ method: "POST", path: await resumableSession(url, 10), headers: { "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" }, body: "12345" }),
    expect: { status: 400, param: "X-Goog-Upload-Header-Content-Length" },
  },
  {
    name: "a Gemini chunk beyond its declared size",
    dialect: "google",
    send: async (url) => ({ method: "POST", path: await resumableSession(url, 3), headers: { "x-goog-upload-command": "upload", "x-goog-upload-offset": "0" }, body: "123456" }),
    expect: { status: 400, param: "X-Goog-Upload-Header-Content-Length" },
  },
  { name: "a Gemini upload command of explode", dialect: "google", send: async (url) => ({ method: "POST", path: await resumableSession(url, 3), headers: { "x-goog-upload-command": "explode" } }), expect: { status: 400, param: "X-Goog-Upload-Command" } },
  {
    name: "a Gemini multipart upload without its closing boundary",
    dialect: "google",
    send: { method: "POST", path: "/upload/v1beta/files", headers: { "x-goog-upload-protocol": "multipart", "content-type": "multipart/related; boundary=CUT" }, body: '--CUT\r\nContent-Type: application/json\r\n\r\n{"file":{}}\r\n--CUT\r\n\r\nbytes' },
    expect: { status: 400 },
  },
  { name: "a Gemini file name header of latin1 bytes (valid)", dialect: "google", send: { method: "POST", path: "/upload/v1beta/files", headers: { "x-goog-upload-file-name": "\u00ff\u00fe\u0080.jsonl" }, body: "{}\n" }, expect: { ok: 200 } },
  { name: "a Gemini multipart upload without a boundary", dialect: "google", send: { method: "POST", path: "/upload/v1beta/files", headers: { "x-goog-upload-protocol": "multipart", "content-type": "multipart/related" }, body: "x" }, expect: { status: 400, param: "Content-Type" } },
];
