import { readFileSync } from 'node:fs';

export interface EventTypeInfo {
  type: string;
  family: string;
  description: string;
}

export interface EventCatalog {
  readonly events: readonly EventTypeInfo[];
  readonly families: readonly { name: string; description: string }[];
  familyOf(type: string): string | undefined;
  isKnownType(type: string): boolean;
  /** An exact type, `<family>.*`, or `*`. */
  isValidPattern(pattern: string): boolean;
}

interface CatalogFile {
  families: { name: string; description: string }[];
  events: EventTypeInfo[];
}

export function createEventCatalog(file: CatalogFile): EventCatalog {
  const byType = new Map(file.events.map((e) => [e.type, e]));
  const familyNames = new Set(file.families.map((f) => f.name));
  return {
    events: file.events,
    families: file.families,
    familyOf: (type) => byType.get(type)?.family,
    isKnownType: (type) => byType.has(type),
    isValidPattern(pattern) {
      if (pattern === '*') return true;
      if (pattern.endsWith('.*')) return familyNames.has(pattern.slice(0, -2));
      return byType.has(pattern);
    },
  };
}

const CATALOG_PATH = new URL('../../schemas/event-catalog.json', import.meta.url);

/** The project's catalog (schemas/event-catalog.json): the one source of event types. */
export function loadEventCatalog(): EventCatalog {
  return createEventCatalog(JSON.parse(readFileSync(CATALOG_PATH, 'utf8')) as CatalogFile);
}
