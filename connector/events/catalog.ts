import { readFileSync } from 'node:fs';
import { BODY_FORMATS, type BodyFormat } from '../subscriptions/webhook.js';

export interface EventTypeInfo {
  type: string;
  family: string;
  description: string;
  /** Other products' names for the same fact (cidaas's GROUP_USER_REMOVED): taken in, never written out. */
  aliases?: string[];
  /**
   * The name a body format writes instead of the type, where its product's receivers switch on their own spelling
   * (cidaas-format bodies say GROUP_USER_REMOVED). One of the aliases, so the same name is taken in too.
   */
  bodyNames?: Partial<Record<BodyFormat, string>>;
  /** What an admin should know before subscribing (seed 003: a type listed but not sent yet). */
  note?: string;
  /** The console's notification group it belongs to (seed 004's checkboxes), if any. */
  group?: string;
}

/** A notification group of a console (seed 004: Users, Invites, Groups, Roles, API Keys, State changes). */
export interface EventGroup {
  name: string;
  label: string;
  description: string;
}

/** The name a body of this format gives a type: the catalog's, or its product's spelling. */
export type BodyTypeName = (format: BodyFormat, type: string) => string;

export interface EventCatalog {
  readonly events: readonly EventTypeInfo[];
  readonly families: readonly { name: string; description: string }[];
  /** Each group with its types, in catalog order: a console's checkbox subscribes to the types it lists. */
  readonly groups: readonly (EventGroup & { eventTypes: readonly string[] })[];
  /** The family of a type or alias. */
  familyOf(type: string): string | undefined;
  /** Whether this is a type of the catalog or an alias of one. */
  isKnownType(type: string): boolean;
  /** The entry of a type or alias, or undefined for neither. */
  entryOf(type: string): EventTypeInfo | undefined;
  /** The catalog's name for a type or alias (itself for a type), or undefined for neither. */
  canonicalType(type: string): string | undefined;
  /** A subscription pattern as stored and matched: an alias becomes its type; wildcards stay. */
  canonicalPattern(pattern: string): string;
  /** An exact type, `<family>.*`, or `*`. */
  isValidPattern(pattern: string): boolean;
  bodyTypeName: BodyTypeName;
}

interface CatalogFile {
  families: { name: string; description: string }[];
  groups?: EventGroup[];
  events: EventTypeInfo[];
}

export function createEventCatalog(file: CatalogFile): EventCatalog {
  const byType = new Map(file.events.map((e) => [e.type, e]));
  for (const event of file.events) {
    for (const alias of event.aliases ?? []) {
      if (byType.has(alias)) throw new Error(`event catalog: alias ${alias} of ${event.type} is already a type or alias`);
      byType.set(alias, event);
    }
    for (const [format, name] of Object.entries(event.bodyNames ?? {})) {
      if (!(BODY_FORMATS as readonly string[]).includes(format)) throw new Error(`event catalog: ${event.type} names a body name for "${format}", which is not a body format (${BODY_FORMATS.join(', ')})`);
      if (!(event.aliases ?? []).includes(name)) throw new Error(`event catalog: ${event.type}'s ${format} body name ${name} is not one of its aliases`);
    }
  }
  const familyNames = new Set(file.families.map((f) => f.name));
  const groups = (file.groups ?? []).map((group) => ({ ...group, eventTypes: file.events.filter((e) => e.group === group.name).map((e) => e.type) }));
  for (const event of file.events) {
    if (event.group !== undefined && !groups.some((g) => g.name === event.group)) throw new Error(`event catalog: ${event.type} names the group "${event.group}", which the catalog's groups do not list`);
  }
  return {
    events: file.events,
    families: file.families,
    groups,
    familyOf: (type) => byType.get(type)?.family,
    isKnownType: (type) => byType.has(type),
    entryOf: (type) => byType.get(type),
    canonicalType: (type) => byType.get(type)?.type,
    canonicalPattern: (pattern) => byType.get(pattern)?.type ?? pattern,
    // Per delivery: one map lookup and, for nearly every type, no bodyNames at all.
    bodyTypeName: (format, type) => byType.get(type)?.bodyNames?.[format] ?? type,
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
