/** Entry: CLI dispatch. `spool serve` is the default command. */
import { buildCli } from "./cli/program.ts";
import { reportFailure } from "./cli/operator-error.ts";
import { limitHeapGrowth } from "./cli/heap-growth.ts";

export async function main(argv: string[]): Promise<void> {
  limitHeapGrowth();
  const program = buildCli();
  const args = argv.slice(2);
  // `spool` alone, or `spool --port 9000`, means `spool serve ...`.
  const first = args[0];
  const known = new Set(program.commands.map((command) => command.name()));
  if (first === undefined || (first.startsWith("-") && first !== "--help" && first !== "-h" && first !== "--version" && first !== "-V") || (!known.has(first) && !first.startsWith("-") && first !== "help")) {
    if (first === undefined || first.startsWith("-")) args.unshift("serve");
  }
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    // Exit now: a half-started app (pools, engines, timers) would otherwise keep the process alive.
    process.exit(reportFailure(error));
  }
}
