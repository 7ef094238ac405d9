import { describe, expect, it } from 'vitest';
import { buildBody } from '../../connector/delivery/envelope.js';
import type { CanonicalEvent } from '../../connector/ingest/canonical-event.js';

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
});
