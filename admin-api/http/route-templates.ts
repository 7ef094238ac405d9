/*
 * Route templates as Fastify's router matches them, kept so that a known
 * path asked with another method is a 405 naming the allowed methods, not
 * a 404 (and not a parametric route's 400).
 */

/** A route template (`/v1/webhooks/:id`, `/docs/*`): the paths it takes, how specific it is, its methods. */
export interface RouteTemplate {
  url: string;
  pattern: RegExp;
  /** Static segments count 2, parameters 1, a wildcard 0: /v1/webhooks/bulk-delete beats /v1/webhooks/:id. */
  specificity: number;
  methods: Set<string>;
}

export function routeTemplate(url: string): RouteTemplate {
  const segments = url.split('/');
  const source = segments
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  const specificity = segments.reduce((sum, segment) => sum + (segment.startsWith(':') ? 1 : segment === '*' ? 0 : 2), 0);
  return { url, pattern: new RegExp(`^${source}$`), specificity, methods: new Set() };
}

/** The most specific template that takes this path, as the router picks it. */
export function templateOf(templates: Iterable<RouteTemplate>, path: string): RouteTemplate | undefined {
  let best: RouteTemplate | undefined;
  for (const template of templates) if (template.pattern.test(path) && (!best || template.specificity > best.specificity)) best = template;
  return best;
}
