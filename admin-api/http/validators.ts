import AjvCompiler from '@fastify/ajv-compiler';

/**
 * Validators as Fastify builds them, except that a JSON body is taken as
 * sent: `{"reason": false}` is not the string "false", nor `false` a missing
 * body. Query strings and paths are text, so there types are still coerced
 * (`limit=5` is a number).
 */
export function bodyWithoutCoercion(): AjvCompiler.BuildCompilerFromPool {
  const pool = AjvCompiler();
  // Fastify calls a compiler with the route ({ schema, method, url, httpPart }), not with the schema alone as its type says.
  type RouteCompiler = (route: { httpPart?: string }) => unknown;
  const build = (...[externalSchemas, options = {}]: Parameters<AjvCompiler.BuildCompilerFromPool>): RouteCompiler => {
    const coercing = pool(externalSchemas, options) as unknown as RouteCompiler;
    const exact = pool(externalSchemas, { ...options, customOptions: { ...options.customOptions, coerceTypes: false } } as typeof options) as unknown as RouteCompiler;
    return (route) => (route.httpPart === 'body' ? exact : coercing)(route);
  };
  return build as unknown as AjvCompiler.BuildCompilerFromPool;
}
