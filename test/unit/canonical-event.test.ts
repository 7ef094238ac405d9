import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../../connector/errors.js';
import { createEventCatalog, loadEventCatalog } from '../../connector/events/catalog.js';
import { toCanonicalEvent } from '../../connector/ingest/canonical-event.js';
import { taskIdFor } from '../../connector/delivery/task.js';

const catalog = loadEventCatalog();
const record = {
  eventId: 'e1', eventType: 'USER_DISABLED', occurredAt: 1_700_000_000_000, organization: 'acme', actor: null, source: 'idp', schemaVersion: 1,
  payload: { username: 'demo', email: 'd@e.f', userId: 'u1', organization: 'acme', remainingSeats: null },
};

describe('toCanonicalEvent', () => {
  it('adds the family from the catalog and leaves null payload fields out (seed 000 USER_DISABLED has no remainingSeats)', () => {
    const event = toCanonicalEvent(record, catalog);
    expect(event.family).toBe('user');
    expect(event.payload).toEqual({ username: 'demo', email: 'd@e.f', userId: 'u1', organization: 'acme' });
    expect(Object.keys(event.payload)).not.toContain('remainingSeats');
  });

  it('routes another product\'s name for a type (cidaas GROUP_USER_REMOVED) under the catalog\'s name', () => {
    const event = toCanonicalEvent({ ...record, eventType: 'GROUP_USER_REMOVED' }, catalog);
    expect(event).toMatchObject({ eventType: 'USER_REMOVED_FROM_GROUP', family: 'group' });
  });

  it('gives the payload the event\'s organization where the producer left it out, and keeps one it set (seed 000)', () => {
    expect(toCanonicalEvent({ ...record, payload: { ...record.payload, organization: null } }, catalog).payload['organization']).toBe('acme');
    expect(toCanonicalEvent({ ...record, payload: null }, catalog).payload).toEqual({ organization: 'acme' });
    expect(toCanonicalEvent({ ...record, payload: { ...record.payload, organization: 'acme-eu' } }, catalog).payload['organization']).toBe('acme-eu');
  });

  it('classifies an occurredAt no date can hold as poison: no body could carry it, every attempt would fail alike', () => {
    for (const occurredAt of [9_000_000_000_000_000, -9e15, new Date(Number.NaN), 1.5, 'yesterday']) {
      expect(() => toCanonicalEvent({ ...record, occurredAt }, catalog)).toThrow(expect.objectContaining({ kind: 'poison', code: 'INVALID_OCCURRED_AT' }));
    }
    expect(toCanonicalEvent({ ...record, occurredAt: 8.64e15 }, catalog).occurredAt).toBe(8.64e15);
    expect(toCanonicalEvent({ ...record, occurredAt: new Date(1_700_000_000_000) }, catalog).occurredAt).toBe(1_700_000_000_000);
  });

  it('classifies a blank event id or organization as poison: one webhook-id for all such events, or no webhook at all', () => {
    for (const eventId of ['', '   ', null]) {
      expect(() => toCanonicalEvent({ ...record, eventId }, catalog)).toThrow(expect.objectContaining({ kind: 'poison', code: 'INVALID_EVENT_ID' }));
    }
    for (const organization of ['', ' ', undefined]) {
      expect(() => toCanonicalEvent({ ...record, organization }, catalog)).toThrow(expect.objectContaining({ kind: 'poison', code: 'INVALID_ORGANIZATION' }));
    }
  });

  it('classifies an event type outside the catalog as poison', () => {
    try {
      toCanonicalEvent({ ...record, eventType: 'USER_TELEPORTED' }, catalog);
      expect.fail('should throw');
    } catch (error) {
      expect(error).toBeInstanceOf(ConnectorError);
      expect((error as ConnectorError).kind).toBe('poison');
      expect((error as ConnectorError).code).toBe('UNKNOWN_EVENT_TYPE');
    }
  });
});

describe('the catalog', () => {
  it('holds every type of the shared catalog with a family, and validates patterns', () => {
    expect(catalog.events.length).toBeGreaterThanOrEqual(100);
    for (const type of ['USER_CREATED', 'USER_DISABLED', 'USER_REMOVED_FROM_GROUP', 'USER_LOGIN', 'GROUP_CREATED']) expect(catalog.isKnownType(type)).toBe(true);
    expect(catalog.isValidPattern('user.*')).toBe(true);
    expect(catalog.isValidPattern('*')).toBe(true);
    expect(catalog.isValidPattern('robots.*')).toBe(false);
  });

  it('takes aliases in subscriptions and stores them under the type, and notes what admins should know', () => {
    expect(catalog.isValidPattern('GROUP_USER_REMOVED')).toBe(true);
    expect(catalog.canonicalPattern('GROUP_USER_REMOVED')).toBe('USER_REMOVED_FROM_GROUP');
    expect(catalog.canonicalPattern('USER_REMOVED_FROM_GROUP')).toBe('USER_REMOVED_FROM_GROUP');
    expect(catalog.canonicalPattern('group.*')).toBe('group.*');
    expect(catalog.canonicalType('NOPE')).toBeUndefined();
    expect(catalog.events.find((e) => e.type === 'USER_DELETION_REQUESTED')?.note).toMatch(/does not send it yet/);
    // An alias is never a second type: listings and wildcards count it once.
    expect(catalog.events.filter((e) => e.type === 'GROUP_USER_REMOVED')).toEqual([]);
    expect(() => createEventCatalog({ families: [{ name: 'user', description: '' }], events: [{ type: 'A', family: 'user', description: '' }, { type: 'B', family: 'user', description: '', aliases: ['A'] }] })).toThrow(/alias A of B is already a type/);
  });

  it('groups types as seed 004\'s console offers them, each group listing its types, each type in one group at most', () => {
    const groups = Object.fromEntries(catalog.groups.map((g) => [g.label, g.eventTypes]));
    expect(Object.keys(groups)).toEqual(['Users', 'Invites', 'Groups', 'Roles', 'API Keys', 'State changes']);
    // The types the shared catalog files under each of seed 004's groups.
    expect(groups['Users']).toEqual(expect.arrayContaining(['USER_CREATED', 'USER_MODIFIED', 'USER_DELETED', 'USER_ENABLED', 'USER_DISABLED']));
    expect(groups['Invites']).toEqual(expect.arrayContaining(['INVITE_USER', 'INVITE_REVOKED']));
    expect(groups['Groups']).toEqual(expect.arrayContaining(['GROUP_CREATED', 'GROUP_UPDATED', 'GROUP_DELETED']));
    expect(groups['Roles']).toEqual(expect.arrayContaining(['ROLE_CREATED', 'ROLE_UPDATED', 'ROLE_DELETED']));
    expect(groups['API Keys']).toEqual(['API_KEY_CREATED', 'API_KEY_UPDATED', 'API_KEY_DELETED']);
    expect(groups['State changes']).toEqual(['LICENSE_STATE_CHANGED']);
    const grouped = catalog.groups.flatMap((g) => g.eventTypes);
    expect(new Set(grouped).size).toBe(grouped.length);
    for (const type of grouped) expect(catalog.isKnownType(type), type).toBe(true);
    // Logins and the like are in no console group.
    expect(grouped).not.toContain('USER_LOGIN');
    expect(() => createEventCatalog({ families: [{ name: 'user', description: '' }], groups: [], events: [{ type: 'A', family: 'user', description: '', group: 'users' }] }))
      .toThrow(/A names the group "users", which the catalog's groups do not list/);
  });
});

describe('taskIdFor', () => {
  it('is stable per (event, webhook) and differs across webhooks', () => {
    expect(taskIdFor('e1', 'w1')).toBe(taskIdFor('e1', 'w1'));
    expect(taskIdFor('e1', 'w1')).not.toBe(taskIdFor('e1', 'w2'));
    expect(taskIdFor('e1', 'w1')).toMatch(/^msg_[A-Za-z0-9_-]{27}$/);
  });
});
