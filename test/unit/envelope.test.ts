import { describe, expect, it } from 'vitest';
import { buildBody } from '../../connector/delivery/envelope.js';
import { createEventCatalog, loadEventCatalog } from '../../connector/events/catalog.js';
import type { CanonicalEvent } from '../../connector/ingest/canonical-event.js';

const { bodyTypeName } = loadEventCatalog();

const event: CanonicalEvent = {
  eventId: 'evt-1',
  eventType: 'USER_REMOVED_FROM_GROUP',
  family: 'group',
  occurredAt: Date.parse('2026-11-25T10:00:00.000Z'),
  organization: 'parallelworks',
  actor: 'admin-7',
  source: 'directory',
  payload: { username: 'demo', email: 'demo@parallelworks.com', userId: '653c787c8e048caa7cb4e554', organization: 'parallelworks', groupName: 'Demo-Group' },
};
const webhook = { id: '66ec439584b4103f670cd3ae', organization: 'parallelworks', name: 'test' };

describe('buildBody', () => {
  it('parallelworks: the seed-000 envelope, byte for byte', () => {
    expect(buildBody('parallelworks', event, webhook, 'msg_1')).toBe(
      '{"type":"USER_REMOVED_FROM_GROUP","webhook":{"id":"66ec439584b4103f670cd3ae","organization":"parallelworks","name":"test"},' +
        '"payload":{"username":"demo","email":"demo@parallelworks.com","userId":"653c787c8e048caa7cb4e554","organization":"parallelworks","groupName":"Demo-Group"}}',
    );
  });

  it('cidaas: event_time, event_type, current_context and data (seed 002)', () => {
    const body = JSON.parse(buildBody('cidaas', event, webhook, 'msg_1')) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['event_time', 'event_type', 'current_context', 'data']);
    expect(body['event_time']).toBe('2026-11-25T10:00:00.000Z');
    expect(body['event_type']).toBe('USER_REMOVED_FROM_GROUP');
    expect(body['data']).toEqual(event.payload);
    expect(body['current_context']).toMatchObject({ organization: 'parallelworks', actor: 'admin-7', webhook_id: webhook.id });
  });

  it('cloudevents: structured JSON with the required attributes', () => {
    const body = JSON.parse(buildBody('cloudevents', event, webhook, 'msg_1')) as Record<string, unknown>;
    expect(body).toMatchObject({ specversion: '1.0', id: 'msg_1', source: 'directory', type: 'USER_REMOVED_FROM_GROUP', time: '2026-11-25T10:00:00.000Z', data: event.payload });
  });

  it('with the catalog: cidaas bodies carry cidaas\'s name for the type (seed 002 GROUP_USER_REMOVED), the other formats the catalog\'s', () => {
    expect(JSON.parse(buildBody('cidaas', event, webhook, 'msg_1', bodyTypeName))['event_type']).toBe('GROUP_USER_REMOVED');
    expect(JSON.parse(buildBody('parallelworks', event, webhook, 'msg_1', bodyTypeName))['type']).toBe('USER_REMOVED_FROM_GROUP');
    expect(JSON.parse(buildBody('cloudevents', event, webhook, 'msg_1', bodyTypeName))['type']).toBe('USER_REMOVED_FROM_GROUP');
    // A type without a product spelling is written as it is.
    expect(JSON.parse(buildBody('cidaas', { ...event, eventType: 'GROUP_CREATED' }, webhook, 'msg_1', bodyTypeName))['event_type']).toBe('GROUP_CREATED');
  });

  it('refuses a catalog whose body name is not one of the type\'s aliases (it would not be taken in)', () => {
    const families = [{ name: 'group', description: '' }];
    const entry = { type: 'USER_REMOVED_FROM_GROUP', family: 'group', description: '', aliases: ['GROUP_USER_REMOVED'] };
    expect(() => createEventCatalog({ families, events: [{ ...entry, bodyNames: { cidaas: 'GROUP_MEMBER_REMOVED' } }] })).toThrow(/GROUP_MEMBER_REMOVED is not one of its aliases/);
    expect(createEventCatalog({ families, events: [{ ...entry, bodyNames: { cidaas: 'GROUP_USER_REMOVED' } }] }).bodyTypeName('cidaas', 'GROUP_USER_REMOVED')).toBe('GROUP_USER_REMOVED');
    // A misspelt format would be ignored for good.
    expect(() => createEventCatalog({ families, events: [{ ...entry, bodyNames: { cidas: 'GROUP_USER_REMOVED' } as never }] })).toThrow(/"cidas", which is not a body format/);
  });
});
