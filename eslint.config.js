// Lint: typescript-eslint's recommended rules, plus the few habits STYLE.md asks for.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "data/**", ".spool/**", "coverage/**", "test/.work/**", "bench/.work/**", "**/*.spool/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/ban-ts-comment": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "off",
    },
  },
  {
    // The dashboard's page scripts run in the browser.
    files: ["src/api/dashboard/assets/**/*.js"],
    languageOptions: {
      globals: Object.fromEntries(
        ["window", "document", "localStorage", "location", "navigator", "fetch", "URLSearchParams", "setTimeout", "clearTimeout", "Node", "console"].map((name) => [name, "readonly"]),
      ),
    },
  },
  {
    // The README's examples: plain Node.js scripts.
    files: ["examples/**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly", setTimeout: "readonly", Buffer: "readonly" } },
  },
  {
    files: ["bin/**/*.js", "bench/**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly" } },
  },
);
