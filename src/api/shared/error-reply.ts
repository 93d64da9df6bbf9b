/** What a dialect's error mapper produces: a complete reply in that dialect's error envelope. */
export interface ErrorReply {
  statusCode: number;
  headers: Record<string, string>;
  /** Sent as JSON. */
  body: unknown;
  /** A failure of spool itself: logged in full with the request id; the body says nothing internal. */
  unexpected: boolean;
}

/** Maps any thrown value to a reply. `requestId` is echoed in generic 500 messages. */
export type ErrorMapper = (error: unknown, requestId: string) => ErrorReply;
