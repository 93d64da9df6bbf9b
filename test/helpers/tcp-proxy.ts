/**
 * An in-process TCP proxy in front of a real server (the shared PostgreSQL), so a test can take "the
 * database" away and give it back without touching the server other tests use: `cut()` stops listening and
 * drops every open connection (clients see refused connects and "Connection terminated"), `restore()`
 * listens again on the same port. `stall()` is the quiet failure: the open connections stay open but carry
 * nothing more either way (a NAT or load balancer that forgot them), while new ones work; `stalledOpen`
 * counts those the client has not closed yet.
 */
import net from "node:net";

export interface TcpProxy {
  readonly port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  stall(): void;
  /** Connections stalled by stall() whose client side is still open. */
  readonly stalledOpen: number;
  close(): Promise<void>;
}

/** `delayMs`: what the server sends reaches the client that much later (a slow network path). */
export async function startTcpProxy(target: { host: string; port: number }, options: { delayMs?: number } = {}): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    track(client);
    track(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
    const pair = { client, upstream };
    pairs.add(pair);
    client.on("close", () => pairs.delete(pair));
    client.pipe(upstream);
    const delayMs = options.delayMs ?? 0;
    // Equal delays keep the chunks in order (timers of one duration fire in the order they were set).
    if (delayMs === 0) upstream.pipe(client);
    else upstream.on("data", (chunk: Buffer) => void setTimeout(() => client.destroyed || client.write(chunk), delayMs));
  });
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  let listening = true;
  const stalled = new Set<net.Socket>();

  const cut = async (): Promise<void> => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return {
    port,
    cut,
    stall() {
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        upstream.pause();
        // The client's bytes are read and dropped, not left unread: a paused socket would never see the
        // client close it, and stalledOpen could not tell.
        client.on("data", () => undefined);
        client.resume();
        stalled.add(client);
        client.on("close", () => stalled.delete(client));
      }
      pairs.clear();
    },
    get stalledOpen() {
      return stalled.size;
    },
    async restore() {
      if (listening) return;
      await listen(port);
      listening = true;
    },
    close: cut,
  };
}
