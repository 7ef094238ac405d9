/**
 * Decides whether a log line that repeats should be written. A client that
 * lost its broker logs the same connection error many times a second; an
 * operator needs the first, then a count. The first line of a kind is
 * written and opens a window; repeats inside the window are counted, not
 * written; the first repeat after it is written with that count and opens
 * the next window.
 */
export interface RepeatLimiter {
  /** Whether to write this occurrence of `key`, and how many repeats were held back before it. */
  admit(key: string): { write: boolean; heldBack: number };
}

/** Distinct kinds remembered before windows that have ended are forgotten. */
const MAX_KINDS = 1000;

export function createRepeatLimiter(windowMs: number, now: () => number = Date.now): RepeatLimiter {
  const windows = new Map<string, { endsAt: number; heldBack: number }>();
  return {
    admit(key) {
      const at = now();
      const open = windows.get(key);
      if (open && at < open.endsAt) {
        open.heldBack += 1;
        return { write: false, heldBack: 0 };
      }
      if (!open && windows.size >= MAX_KINDS) {
        for (const [kind, window] of windows) if (at >= window.endsAt) windows.delete(kind);
      }
      windows.set(key, { endsAt: at + windowMs, heldBack: 0 });
      return { write: true, heldBack: open?.heldBack ?? 0 };
    },
  };
}
