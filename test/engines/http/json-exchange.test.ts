/**
 * exchangeJson: the one-shot POST under postJson, on undici's dispatch() with a handler of its own. What it
 * must give as undici's request() + body.text() did: the final answer after 1xx ones, every value of a
 * repeated header, the body decoded once without a byte order mark, and the signal's reason when it fires.
 */
import { getEventListeners } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exchangeJson } from "../../../src/engines/http/json-exchange.ts";

let server: http.Server;
let pool: Pool;

beforeAll(async () => {
  server = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      if (request.url === "/echo") {
        response.writeEarlyHints({ link: "</x>; rel=preload" });
        response.setHeader("Retry-After", ["1", "2"]);
        response.setHeader("x-other", "not read");
        response.writeHead(201, { "content-type": "application/json", "X-Request-Id": "req-1" });
        // A byte order mark, then the body in two writes.
        response.write(Buffer.from([0xef, 0xbb, 0xbf]));
        response.write(`{"got":${body},`);
        response.end(`"text":"ünï"}`);
      } else if (request.url === "/slow") {
        response.writeHead(200, { "content-type": "application/json" });
        response.write('{"partial":');
        // Never ends: the caller's signal must end the exchange.
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 2 });
});

afterAll(async () => {
  await pool.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("exchangeJson", () => {
  it("answers with the final status, the headers spool reads (lower-cased, repeated ones in full) and the body decoded once without a BOM", async () => {
    const answer = await exchangeJson(pool, { path: "/echo", headers: { "content-type": "application/json" }, body: '{"n":12345678901234567890}', signal: undefined });
    expect(answer.statusCode).toBe(201);
    expect(answer.headers["x-request-id"]).toBe("req-1");
    expect(answer.headers["retry-after"]).toEqual(["1", "2"]);
    expect(answer.headers["content-type"]).toBe("application/json");
    expect(answer.headers["x-other"]).toBeUndefined();
    expect(answer.text).toBe('{"got":{"n":12345678901234567890},"text":"ünï"}');
  });

  it("rejects with the signal's reason when it fires mid-answer, and at once when it already had", async () => {
    const controller = new AbortController();
    const reason = new Error("deadline");
    const pending = exchangeJson(pool, { path: "/slow", headers: {}, body: "{}", signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
    await expect(exchangeJson(pool, { path: "/echo", headers: {}, body: "{}", signal: controller.signal })).rejects.toBe(reason);
    // Nothing was left listening on the signal by the finished exchanges.
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });
});
