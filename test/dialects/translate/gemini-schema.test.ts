/** Gemini's OpenAPI-subset Schema -> JSON Schema. */
import { describe, expect, it } from "vitest";
import { geminiSchemaToJsonSchema } from "../../../src/dialects/translate/gemini-schema.ts";
import { TranslationError } from "../../../src/dialects/translate/translation-error.ts";

describe("geminiSchemaToJsonSchema", () => {
  it("adds null to the type and to the enum of a nullable enum", () => {
    expect(geminiSchemaToJsonSchema({ type: "STRING", enum: ["a", "b"], nullable: true }, "s")).toEqual({ type: ["string", "null"], enum: ["a", "b", null] });
  });

  it("converts anyOf members and adds a null member when nullable without a type", () => {
    expect(geminiSchemaToJsonSchema({ anyOf: [{ type: "INTEGER" }, { type: "string" }], nullable: true }, "s")).toEqual({ anyOf: [{ type: "integer" }, { type: "string" }, { type: "null" }] });
  });

  it("keeps property names as written and turns example into examples", () => {
    expect(geminiSchemaToJsonSchema({ type: "OBJECT", properties: { snake_name: { type: "NUMBER", example: 1.5 } }, min_properties: "1" }, "s")).toEqual({
      type: "object",
      properties: { snake_name: { type: "number", examples: [1.5] } },
      minProperties: 1,
    });
  });

  it("rejects an unknown type, naming the path", () => {
    expect(() => geminiSchemaToJsonSchema({ type: "OBJECT", properties: { a: { type: "DATE" } } }, "request.generationConfig.responseSchema")).toThrow(
      expect.objectContaining({ param: "request.generationConfig.responseSchema.properties.a.type" }),
    );
    expect(() => geminiSchemaToJsonSchema("STRING", "x")).toThrow(TranslationError);
  });
});
