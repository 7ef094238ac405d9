/**
 * Command-line checks the benchmarks share: a mistyped option or value is
 * one line and exit 2 before any service starts, not a stack trace after the
 * stack is up, nor a run that measures nothing and overwrites the results.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class BenchUsageError extends Error {}

/** parseArgs, its errors as BenchUsageError (Node's message without its note on arguments after --). */
export function parseBenchArgs<O extends NonNullable<ParseArgsConfig['options']>>(options: O): ReturnType<typeof parseArgs<{ options: O }>>['values'] {
  try {
    return parseArgs({ options }).values;
  } catch (error) {
    throw new BenchUsageError((error as Error).message.split('. ')[0]!);
  }
}

/** A number option at least `min` (integers unless `fractional`). */
export function numberOption(name: string, value: string | undefined, { min = 1, fractional = false, max = Number.POSITIVE_INFINITY } = {}): number {
  const number = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(number) || number < min || number > max || (!fractional && !Number.isInteger(number))) {
    const range = max === Number.POSITIVE_INFINITY ? `at least ${min}` : `${min} to ${max}`;
    throw new BenchUsageError(`--${name} must be ${fractional ? 'a number' : 'an integer'} ${range}; got "${value ?? ''}"`);
  }
  return number;
}

/** The parts `--only` names, each one of `parts`; all of them without it. */
export function onlyOption(value: string | undefined, parts: readonly string[]): (part: string) => boolean {
  if (value === undefined) return () => true;
  const named = value.split(',').map((part) => part.trim());
  const unknown = named.filter((part) => !parts.includes(part));
  if (unknown.length > 0 || named.length === 0) throw new BenchUsageError(`--only takes ${parts.join(', ')} (comma-separated); got "${unknown.join(',') || value}"`);
  return (part) => named.includes(part);
}

/** Runs a benchmark's main: a usage error is one line and exit 2, any other failure its stack and exit 1. */
export function runBench(name: string, main: () => Promise<unknown>): void {
  main().then(() => process.exit(0), (error: unknown) => {
    if (error instanceof BenchUsageError) {
      console.error(`${name}: ${error.message}; run with --help`);
      process.exit(2);
    }
    console.error(`${name}: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  });
}
