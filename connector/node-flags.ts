/**
 * Flags of the Node process a connector role runs in. The image sets them
 * as its NODE_OPTIONS (a test holds the Dockerfile to this list), and the
 * demo and the benchmarks pass them when they start roles, so what they
 * measure is what runs. The benchmarks' own processes get them too: the raw
 * loop a deliverer is compared with runs with the same young generation.
 *
 * `--max-semi-space-size=32` (MiB): a deliverer allocates about 18 KB per
 * delivery on its main thread, nearly all of it dead within milliseconds,
 * and garbage collection took 13.6 % of that thread's samples. Node's own
 * default is at most 16 MiB, and less under a memory limit of 2 GiB or
 * below (1 MiB at 512 MiB), which makes collections more frequent still.
 * At 32, collecting took about 9 %, the deliverer used about 4 % less CPU
 * per delivery, and the benchmark's throughput ratio rose by about as much
 * again (0.549 to 0.580, medians of three A/B rounds, deliverer as a
 * process). 64 measured no better.
 *
 * The cost is memory: a young generation of up to three semi-spaces, 96 MiB,
 * in each V8 isolate (the main thread and each sending thread). The
 * 1,000,000-task backlog benchmark peaked at 532 MiB of RSS against 465
 * before. Give a deliverer 1 GiB, or set NODE_OPTIONS with a smaller value
 * where memory is tight.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
