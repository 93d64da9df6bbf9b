// How spool's TypeScript is compiled, by the bundle (./typescript-bundle.js) and by the loader hooks
// (./typescript-hooks.js) alike, so that either way runs the same code.
export const COMPILE_OPTIONS = {
  target: `node${process.versions.node}`,
  // Stack traces name the .ts lines (process.setSourceMapsEnabled in ./spool.js); the sources stay on disk.
  sourcemap: "inline",
  sourcesContent: false,
  // As tsconfig.json: imports are kept as written (type-only ones say `import type`). No keepNames: its
  // wrappers cost the hot path (decision 0033).
  tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true, target: "ES2022", useDefineForClassFields: true } },
};
