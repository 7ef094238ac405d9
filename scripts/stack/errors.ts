/** A stack problem, said in one line: the cause and what to do. The CLI prints it without a stack trace. */
export class StackError extends Error {
  override name = 'StackError';
}
