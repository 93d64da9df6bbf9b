/**
 * The `schedule` block of the progress extensions (OpenAI and Anthropic spell it alike, snake_case, times
 * in unix seconds): how the scheduler treats a Batch and when it expects it to finish (issue 12).
 */
import type { BatchProgress } from "../core/batch-progress.ts";

export interface ScheduleWire {
  priority: number;
  /** The end of the completion window: the deadline. */
  deadline_at: number;
  /** When every request is expected to have finished; null when unknown or ended. */
  estimated_completion_at: number | null;
  /** Whether that is before the deadline; null when unknown or ended. */
  meets_deadline: boolean | null;
  /** The batch's part of its model's capacity now (0 to 1); null when none of it is queued. */
  share: number | null;
  /** Waiting for the model's batch hours (off-peak window) until then; null when it may run. */
  waiting_until: number | null;
}

export function toScheduleWire(progress: BatchProgress): ScheduleWire {
  return {
    priority: progress.priority,
    deadline_at: Math.floor(progress.deadlineMs / 1000),
    estimated_completion_at: progress.estimatedFinishMs === null ? null : Math.ceil(progress.estimatedFinishMs / 1000),
    meets_deadline: progress.meetsDeadline,
    share: progress.share === null ? null : Math.round(progress.share * 10_000) / 10_000,
    waiting_until: progress.heldUntilMs === null ? null : Math.floor(progress.heldUntilMs / 1000),
  };
}
