/**
 * Validation's check of media references (issue 18): every File a line names must exist, be unexpired and
 * the Batch owner's (MediaFiles.find, the one place that decides), and fit what the line's Model can take
 * (an engine that takes media inline has a size limit; the gemini engine uploads instead). Lookups are
 * remembered for the Batch, so a million lines naming one File ask the Store once.
 */
import type { ModelCatalog } from "../core/model-catalog.ts";
import { MediaFileError, type MediaFile, type MediaFiles, type MediaReference } from "../core/media.ts";
import type { LineError } from "../core/types.ts";

export interface MediaReferenceSettings {
  files: MediaFiles;
  /** The tenant the Batch belongs to (null while spool has no tenants). */
  owner: string | null;
  /** Largest File sent inline (config media.maxInlineBytes). */
  maxInlineBytes: number;
}

export type ReferenceCheck = (references: readonly MediaReference[], lineNumber: number, model: string) => Promise<LineError[]>;

export function referenceCheck(settings: MediaReferenceSettings, catalog: ModelCatalog): ReferenceCheck {
  const known = new Map<string, Promise<MediaFile | MediaFileError>>();
  const lookup = (fileId: string): Promise<MediaFile | MediaFileError> => {
    let found = known.get(fileId);
    if (found === undefined) {
      found = settings.files.find(fileId, settings.owner).catch((error: unknown) => {
        if (error instanceof MediaFileError) return error;
        throw error;
      });
      known.set(fileId, found);
    }
    return found;
  };
  return async (references, lineNumber, model) => {
    const errors: LineError[] = [];
    const inline = catalog.get(model)?.engine !== "gemini";
    for (const reference of references) {
      let problem: MediaFileError | null = null;
      for (const fileId of reference.fileIds) {
        const found = await lookup(fileId);
        if (!(found instanceof MediaFileError)) {
          problem = inline && found.bytes > settings.maxInlineBytes
            ? new MediaFileError("too_large", `File ${found.id} is ${found.bytes} bytes; model '${model}' takes media inline, up to ${settings.maxInlineBytes} bytes.`)
            : null;
          break;
        }
        if (problem === null || problem.problem === "not_found") problem = found;
      }
      if (problem !== null) {
        errors.push({ line: lineNumber, code: "invalid_media_reference", param: reference.path, message: `Line ${lineNumber}: ${reference.path} refers to ${JSON.stringify(reference.written)}: ${problem.message}` });
      }
    }
    return errors;
  };
}
