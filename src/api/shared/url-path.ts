/** The path of a request URL without its query string (routing and auth decisions look at the path only). */
export function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Query parameters whose values are credentials: Gemini clients send the API key as `?key=`, and an upload
 * URL's `upload_id` lets whoever holds it write the upload. Their values never reach a log.
 */
const SECRET_PARAMS = new Set(["key", "api_key", "apikey", "access_token", "token", "upload_id"]);

/** A request URL as logs show it: the path and the query, with credential values replaced by `REDACTED`. */
export function loggablePath(url: string): string {
  const query = url.indexOf("?");
  if (query === -1) return url;
  const parts = url
    .slice(query + 1)
    .split("&")
    .map((part) => {
      const equals = part.indexOf("=");
      const name = equals === -1 ? part : part.slice(0, equals);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, " "));
      } catch {
        // A malformed escape is logged as sent; only a recognisable name is redacted.
      }
      return equals !== -1 && SECRET_PARAMS.has(decoded.toLowerCase()) ? `${name}=REDACTED` : part;
    });
  return `${url.slice(0, query)}?${parts.join("&")}`;
}
