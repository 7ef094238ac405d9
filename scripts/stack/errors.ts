/** A stack problem, said in one line: the cause and what to do. */
export class StackError extends Error {
  override name = 'StackError';
}
