/**
 * The queue of Batch requests waiting for a slot: one FIFO per Batch, taken in turns (round robin), so a
 * Batch that just started does not wait behind every request another Batch already has queued.
 *
 * Why (decision 0051): the Worker claims about twice a Model's concurrency ahead, and while sync requests
 * are about Batch requests keep to a quarter of the slots (decision 0025), so a lane running a large Batch
 * holds up to seven eighths of its claimed requests here. The claim planner gives a small Batch started
 * beside it its fair share of each claim (src/scheduling/), but in one FIFO those requests then waited
 * behind the large Batch's queue. Taking Batches in turns changes the order only within what is already
 * claimed, a bounded amount; over time each Batch still gets what the claims give it.
 *
 * Same interface as Fifo (what Lane and ModelDispatcher use). A request is keyed by its Batch id (a pack by
 * its first member's); requests without one share one turn. Waiters settled while queued (aborted,
 * cancelled) stay until they are met, as in the Fifo.
 */
import { Fifo } from "./fifo.ts";

export class BatchTurns<T extends { batchId: string | undefined }> {
  /** Each Batch's queue, in turn order: the first key is whose turn it is. Emptied queues are removed. */
  private readonly queues = new Map<string | undefined, Fifo<T>>();

  push(item: T): void {
    let queue = this.queues.get(item.batchId);
    if (queue === undefined) this.queues.set(item.batchId, (queue = new Fifo<T>()));
    queue.push(item);
  }

  /** Takes the oldest request of the Batch whose turn it is; the next Batch's turn comes after it. */
  shift(): T | undefined {
    const first = this.queues.entries().next();
    if (first.done === true) return undefined;
    const [key, queue] = first.value;
    const item = queue.shift();
    if (queue.peek() === undefined) this.queues.delete(key);
    else if (this.queues.size > 1) {
      // Map order is insertion order: deleting and setting the key again moves it to the back of the turns.
      this.queues.delete(key);
      this.queues.set(key, queue);
    }
    return item;
  }

  /** The request shift() would take, left in place. */
  peek(): T | undefined {
    const first = this.queues.values().next();
    return first.done === true ? undefined : first.value.peek();
  }

  /** Every queued request (a copy), Batch by Batch in turn order, each Batch's oldest first. */
  peekAll(): T[] {
    return [...this.queues.values()].flatMap((queue) => queue.peekAll());
  }

  drain(): T[] {
    const all = this.peekAll();
    this.queues.clear();
    return all;
  }
}
