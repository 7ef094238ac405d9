import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeTask, deliveryKind, encodeTask, taskIdFor, type DeliveryTask } from '../../connector/delivery/task.js';

const task: DeliveryTask = {
  v: 1,
  taskId: taskIdFor('evt-1', '0b5e7c3e-61a4-4a4e-9d2e-6f1b1f7f2c11'),
  webhookId: '0b5e7c3e-61a4-4a4e-9d2e-6f1b1f7f2c11',
  organization: 'acme',
  attempt: 1,
  routedAt: 1_790_000_000_000,
  event: {
    eventId: 'evt-1', eventType: 'USER_CREATED', family: 'user', occurredAt: 1_789_999_999_000, organization: 'acme', actor: null, source: 'idp',
    payload: { username: 'ada', email: 'ada@example.com', note: 'quote " and \u2028 survive' },
  },
};

describe('delivery task encoding', () => {
  it('writes the same bytes with a pre-serialized event as without', () => {
    const plain = encodeTask(task);
    expect(encodeTask(task, JSON.stringify(task.event)).equals(plain)).toBe(true);
    expect(decodeTask(plain)).toEqual(task);
  });

  it('keeps the mark of a task an admin produced again, the same bytes either way', () => {
    const resent: DeliveryTask = { ...task, resent: true };
    const plain = encodeTask(resent);
    expect(encodeTask(resent, JSON.stringify(task.event)).equals(plain)).toBe(true);
    expect(decodeTask(plain).resent).toBe(true);
    expect(decodeTask(encodeTask(task)).resent).toBeUndefined();
  });

  it('keeps the time an endpoint asked not to be sent the task before, the same bytes either way; one that is no time is dropped', () => {
    const waiting: DeliveryTask = { ...task, attempt: 3, notBefore: 1_790_000_360_000 };
    const plain = encodeTask(waiting);
    expect(encodeTask(waiting, JSON.stringify(task.event)).equals(plain)).toBe(true);
    expect(decodeTask(plain).notBefore).toBe(1_790_000_360_000);
    const damaged = Buffer.from(plain.toString().replace('"notBefore":1790000360000', '"notBefore":"soon"'));
    expect(decodeTask(damaged).notBefore).toBeUndefined();
  });

  it('counts end-to-end latency apart for first attempts, retries and tasks an admin produced again', () => {
    expect(deliveryKind({ attempt: 1 })).toBe('first');
    expect(deliveryKind({ attempt: 2 })).toBe('retry');
    expect(deliveryKind({ attempt: 1, resent: true })).toBe('resent');
    expect(deliveryKind({ attempt: 3, resent: true })).toBe('resent');
  });

  it('derives the task id from event id and webhook id only, stable across runs', () => {
    const expected = `msg_${createHash('sha256').update('evt-1\u0000wh-1').digest('base64url').slice(0, 27)}`;
    expect(taskIdFor('evt-1', 'wh-1')).toBe(expected);
    expect(taskIdFor('evt-1', 'wh-2')).not.toBe(expected);
    expect(taskIdFor('evt-1', 'wh-1')).toHaveLength(31);
  });

  it('refuses records that are not tasks as poison', () => {
    expect(() => decodeTask(Buffer.from('not json'))).toThrow(expect.objectContaining({ code: 'TASK_MALFORMED' }));
    expect(() => decodeTask(Buffer.from('{"v":2}'))).toThrow(expect.objectContaining({ code: 'TASK_MALFORMED' }));
    expect(() => decodeTask(null)).toThrow(expect.objectContaining({ code: 'TASK_MALFORMED' }));
  });

  it('refuses a task whose webhook id is no UUID as poison: its lookup would fail on every try', () => {
    for (const webhookId of ['wh-1', '', '0b5e7c3e-61a4-4a4e-9d2e-6f1b1f7f2c1', '0b5e7c3e-61a4-4a4e-9d2e-6f1b1f7f2c11x']) {
      expect(() => decodeTask(encodeTask({ ...task, webhookId }))).toThrow(expect.objectContaining({ kind: 'poison', code: 'TASK_MALFORMED' }));
    }
    expect(decodeTask(encodeTask({ ...task, webhookId: task.webhookId.toUpperCase() })).webhookId).toBe(task.webhookId.toUpperCase());
  });

  it('refuses a task whose event time no date can hold (its body could never be written) as poison', () => {
    const withTime = (occurredAt: unknown) => Buffer.from(JSON.stringify({ v: 1, taskId: 't', webhookId: task.webhookId, event: { eventId: 'e', occurredAt, payload: {} } }));
    for (const occurredAt of [9e15, -9e15, '2026-01-01', null]) {
      expect(() => decodeTask(withTime(occurredAt))).toThrow(expect.objectContaining({ kind: 'poison', code: 'TASK_MALFORMED' }));
    }
    expect(decodeTask(withTime(1_700_000_000_000)).event.occurredAt).toBe(1_700_000_000_000);
  });
});
