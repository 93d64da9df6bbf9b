/**
 * `spool keys create --tenant NAME [--role admin|member]`, `spool keys list [--tenant NAME]`, `spool keys revoke
 * ID`: tenants' API keys, straight in the Store the server uses (same --config, --data-dir, --database-url), so
 * an operator can make the first admin key before any key exists. A created key is printed once; the Store
 * keeps only its digest. A running server sees a new key at once and a revoked one within seconds.
 */
import { pino } from "pino";
import { TenantService } from "../batches/tenant-service.ts";
import { loadConfig } from "../config/load-config.ts";
import { systemClock } from "../core/clock.ts";
import { AppError } from "../core/errors.ts";
import { ROLES, type ApiKeyRecord, type Role } from "../core/tenancy.ts";
import { openStores } from "../store/open-stores.ts";
import { ExitCode, OperatorError } from "./operator-error.ts";
import type { ServerFlags } from "./serve.ts";
import { textTable } from "./text-table.ts";

export interface KeysFlags extends ServerFlags {
  tenant?: string;
  role?: string;
  json?: boolean;
}

export async function keysCommand(action: "create" | "list" | "revoke", flags: KeysFlags, id?: string): Promise<void> {
  const config = loadConfig(flags);
  const { store, blobs } = await openStores(config);
  const tenants = new TenantService({ store, clock: systemClock, logger: pino({ level: "silent" }), config });
  try {
    if (action === "create") {
      if (flags.tenant === undefined) throw new OperatorError("spool keys create needs --tenant NAME.", ExitCode.usage);
      const role = flags.role ?? "member";
      if (!(ROLES as readonly string[]).includes(role)) throw new OperatorError(`--role must be admin or member, not '${role}'.`, ExitCode.usage);
      const { key, record } = await tenants.createKey({ tenant: flags.tenant, role: role as Role });
      if (flags.json) console.log(JSON.stringify({ ...keyJson(record), key }));
      else console.log(`${key}\n\nKey ${record.id} (${record.role} of tenant '${record.tenant}'). Store it now: spool keeps only its digest and cannot show it again.`);
    } else if (action === "list") {
      const keys = await tenants.listKeys(flags.tenant);
      if (flags.json) console.log(JSON.stringify(keys.map(keyJson)));
      else console.log(keys.length === 0 ? "No keys in the Store (keys in the config file are not listed)." : keyTable(keys));
    } else {
      const revoked = await tenants.revokeKey(id ?? "");
      console.log(flags.json ? JSON.stringify(keyJson(revoked)) : `Revoked ${revoked.id} (${revoked.role} of tenant '${revoked.tenant}').`);
    }
  } catch (error) {
    if (error instanceof AppError && (error.code === "invalid_request" || error.code === "not_found")) throw new OperatorError(error.message, ExitCode.usage);
    throw error;
  } finally {
    await store.close();
    await blobs.close();
  }
}

function keyJson(record: ApiKeyRecord): Record<string, unknown> {
  return { id: record.id, tenant: record.tenant, role: record.role, hint: record.hint, createdAt: new Date(record.createdAtMs).toISOString(), revokedAt: record.revokedAtMs === null ? null : new Date(record.revokedAtMs).toISOString() };
}

function keyTable(keys: readonly ApiKeyRecord[]): string {
  const header = ["ID", "TENANT", "ROLE", "KEY", "CREATED", "REVOKED"];
  const rows = keys.map((key) => [key.id, key.tenant, key.role, key.hint, new Date(key.createdAtMs).toISOString(), key.revokedAtMs === null ? "-" : new Date(key.revokedAtMs).toISOString()]);
  return textTable(header, rows);
}
