/**
 * How often a component may recover in place before it should stop instead:
 * at most `max` recoveries within any `windowMs`. A router rejoining its
 * group after being fenced once is recovery; one fenced again and again is
 * stuck (a host that keeps freezing it, a clock or network fault), and the
 * supervisor's restart, with its backoff and its alerting, is the better
 * answer than a silent loop.
 */
export interface RestartBudget {
  /** Records a recovery now; false when it would be more than `max` within the window. */
  spend(): boolean;
}

export function createRestartBudget(options: { max: number; windowMs: number; now?: () => number }): RestartBudget {
  const now = options.now ?? Date.now;
  const spent: number[] = [];
  return {
    spend() {
      const at = now();
      while (spent.length > 0 && spent[0]! <= at - options.windowMs) spent.shift();
      if (spent.length >= options.max) return false;
      spent.push(at);
      return true;
    },
  };
}
