/**
 * The least a synchronous passthrough in Node.js can do, as a reference for the `sync` bench: node:http in
 * front of an undici Pool, nothing else. It does what any proxy that reports usage must (parses the request
 * to know its model, parses the reply to read its usage) and sends both bodies on as the bytes it got; no
 * routing framework, authentication, limits, scheduling, retries, timeouts, logs or metrics. What spool adds
 * on top of this is spool's own cost; what this adds over calling the upstream directly is the cost of being
 * a Node.js proxy at all on the machine the bench runs on.
 *
 * Usage: `node --import tsx bench/bare-proxy-process.ts UPSTREAM_BASE_URL`; prints `{"url": ...}` (its own
 * `/v1` base URL) and serves until killed.
 */
import { createServer } from "node:http";
import { Pool } from "undici";

const upstream = new URL(process.argv[2] ?? "");
const upstreamPath = upstream.pathname.replace(/\/$/, "");
const pool = new Pool(upstream.origin, { connections: 64 });

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    void forward(request.url ?? "/", body).then(
      ({ statusCode, text }) => {
        response.writeHead(statusCode, { "content-type": "application/json" });
        response.end(text);
      },
      (error: unknown) => {
        response.writeHead(502, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: { message: String(error) } }));
      },
    );
  });
});

async function forward(url: string, body: string): Promise<{ statusCode: number; text: string }> {
  JSON.parse(body); // a proxy must at least know the model it routes
  const reply = await pool.request({ method: "POST", path: `${upstreamPath}${url.replace(/^\/v1/, "")}`, headers: { "content-type": "application/json" }, body });
  const text = await reply.body.text();
  JSON.parse(text); // and read the usage it accounts
  return { statusCode: reply.statusCode, text };
}

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}/v1` }));
});
process.on("SIGTERM", () => server.close(() => void pool.close().then(() => process.exit(0))));
