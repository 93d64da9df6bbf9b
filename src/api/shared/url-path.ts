/** The path of a request URL without its query string (routing and auth decisions look at the path only). */
export function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/** The URL as logs show it: a `key` query parameter (Gemini's `?key=`) replaced, so no key reaches a log. */
export function loggedUrl(url: string): string {
  return url.replace(/([?&]key=)[^&#]*/gi, "$1[redacted]");
}
