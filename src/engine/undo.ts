/**
 * An undo log for one operation: each step that changed something registers how to
 * take it back; on failure the steps are undone in reverse order. Undo errors are
 * reported to `onUndoError` and never hide the original failure.
 */
export class UndoLog {
  private readonly steps: { what: string; undo: () => unknown }[] = [];

  constructor(private readonly onUndoError: (what: string, err: unknown) => void = () => {}) {}

  push(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
  }

  async rollback(): Promise<void> {
    while (this.steps.length) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (err) {
        this.onUndoError(step.what, err);
      }
    }
  }

  /** Runs fn; on any error rolls back everything pushed so far and rethrows. */
  async run<T>(fn: (undo: UndoLog) => Promise<T>): Promise<T> {
    try {
      return await fn(this);
    } catch (err) {
      await this.rollback();
      throw err;
    }
  }
}
