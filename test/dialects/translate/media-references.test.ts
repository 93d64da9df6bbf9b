/**
 * Which parts of each dialect's request bodies are references to spool's Files (and which are someone
 * else's, left alone), and the up-front checks of inline media that name the bad part.
 */
import { describe, expect, it } from "vitest";
import { checkMediaParts, mediaReferencesOf } from "../../../src/dialects/translate/media-checks.ts";

const geminiBody = (fileUri: string) => ({ contents: [{ role: "user", parts: [{ text: "x" }, { fileData: { fileUri, mimeType: "image/png" } }] }] });

describe("media references", () => {
  it("recognises spool's Gemini file URIs and names, and leaves Google's and other URLs alone", () => {
    const ids = (uri: string) => mediaReferencesOf("gemini", geminiBody(uri), "request.").map((reference) => reference.fileIds);
    expect(ids("files/abc123")).toEqual([["abc123", "file-abc123"]]);
    expect(ids("https://spool.example:8080/v1beta/files/abc123")).toEqual([["abc123", "file-abc123"]]);
    expect(ids("http://127.0.0.1:8080/download/v1beta/files/file-abc123:download?alt=media")).toEqual([["file-abc123"]]);
    expect(ids("https://generativelanguage.googleapis.com/v1beta/files/abc123")).toEqual([]);
    expect(ids("gs://bucket/cat.png")).toEqual([]);
    expect(ids("https://example.com/cat.png")).toEqual([]);
    expect(mediaReferencesOf("gemini", geminiBody("files/abc"), "request.")[0]?.path).toBe("request.contents[0].parts[1].fileData.fileUri");
  });

  it("recognises OpenAI file parts by file_id and image_url parts with a spool content URL", () => {
    const body = {
      messages: [
        { role: "system", content: "plain" },
        { role: "user", content: [
          { type: "file", file: { file_id: "file-a" } },
          { type: "image_url", image_url: { url: "http://127.0.0.1:8080/v1/files/file-b/content" } },
          { type: "image_url", image_url: { url: "http://127.0.0.1:8080/v1beta/openai/files/file-c/content" } },
          { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
        ] },
      ],
    };
    expect(mediaReferencesOf("openai", body, "body.")).toEqual([
      { path: "body.messages[1].content[0].file.file_id", fileIds: ["file-a"], written: "file-a" },
      { path: "body.messages[1].content[1].image_url.url", fileIds: ["file-b"], written: "http://127.0.0.1:8080/v1/files/file-b/content" },
      { path: "body.messages[1].content[2].image_url.url", fileIds: ["file-c"], written: "http://127.0.0.1:8080/v1beta/openai/files/file-c/content" },
    ]);
  });

  it("recognises Anthropic image and document blocks whose source is a file", () => {
    const body = { messages: [{ role: "user", content: [{ type: "document", source: { type: "file", file_id: "file-d" } }, { type: "text", text: "sum up" }] }] };
    expect(mediaReferencesOf("anthropic", body, "params.")).toEqual([{ path: "params.messages[0].content[0].source.file_id", fileIds: ["file-d"], written: "file-d" }]);
  });
});

describe("media checks", () => {
  it("names the part holding malformed base64, a bad data URL or a MIME type no engine takes", () => {
    const gemini = { contents: [{ parts: [{ inlineData: { mimeType: "image/png", data: "a$b" } }, { inlineData: { mimeType: "image/bmp", data: "AAAA" } }, { inline_data: { mime_type: "image/png", data: "AAAA" } }] }] };
    expect(checkMediaParts("gemini", gemini, "request.").map((problem) => [problem.code, problem.param])).toEqual([
      ["invalid_media", "request.contents[0].parts[0].inlineData.data"],
      ["unsupported_media_type", "request.contents[0].parts[1].inlineData.mimeType"],
    ]);
    const openai = { messages: [{ role: "user", content: [
      { type: "image_url", image_url: { url: "data:image/png,raw" } },
      { type: "input_audio", input_audio: { data: "AAAA", format: "ogg" } },
      { type: "file", file: { file_data: "data:application/pdf;base64,JVBERi0=" } },
      { type: "file", file: {} },
    ] }] };
    expect(checkMediaParts("openai", openai, "body.").map((problem) => problem.param)).toEqual([
      "body.messages[0].content[0].image_url.url",
      "body.messages[0].content[1].input_audio.format",
      "body.messages[0].content[3].file",
    ]);
    const anthropic = { messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "application/pdf", data: "AAAA" } }] }] };
    expect(checkMediaParts("anthropic", anthropic, "params.")).toMatchObject([{ code: "unsupported_media_type", param: "params.messages[0].content[0].source.media_type" }]);
  });
});
