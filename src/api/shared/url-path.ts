/** The path of a request URL without its query string (routing and auth decisions look at the path only). */
export function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}
