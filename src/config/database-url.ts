/** The `databaseUrl` setting: its accepted form, and how to print it without its password. */

/** Null when `databaseUrl` is a usable PostgreSQL URL; otherwise what is wrong with it (`setting` names it). */
export function databaseUrlProblem(databaseUrl: string, setting = "databaseUrl"): string | null {
  let parsed: URL;
  try {
    parsed = new URL(databaseUrl);
  } catch {
    return `${setting} is not a URL: write it as postgres://user:password@host:5432/database.`;
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    return `${setting} must start with postgres:// or postgresql://, got ${maskDatabaseUrl(databaseUrl)}: spool stores its state in SQLite (no URL) or PostgreSQL.`;
  }
  return null;
}

/** `postgres://spool:****@db:5432/spool`: safe to print and log. */
export function maskDatabaseUrl(databaseUrl: string): string {
  try {
    const parsed = new URL(databaseUrl);
    if (parsed.password) parsed.password = "****";
    return parsed.toString();
  } catch {
    return "(the configured URL, which is not a valid URL)";
  }
}
