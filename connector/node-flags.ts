/**
 * Flags of the Node process a connector role runs in. The image's
 * ENTRYPOINT passes them (a test holds it to this list), and so do the demo
 * and the benchmark when they start roles, so what they measure is what
 * runs.
 *
 * `--max-semi-space-size=32` (MiB; Node 20's default is 16): a deliverer
 * allocates about 18 KB per delivery on its main thread, nearly all of it
 * dead within milliseconds, and garbage collection took an eighth of that
 * thread's time. Twice the young generation halves how often it is
 * collected while what survives a collection stays about the same (the
 * tasks in flight), so the main thread spent 9 % of its samples collecting
 * rather than 13.6 %; the deliverer used about 4 % less CPU per delivery and
 * the benchmark's throughput ratio rose by about as much again (0.549 to
 * 0.580, medians of three A/B rounds, deliverer as a process). It costs at
 * most 48 MiB more of memory per process. 64 measured no better.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
