import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../../connector/errors.js';
import { checkSourceTopic } from '../../connector/ingest/source-topic.js';
import { sourceFamilyOf, type SourceFamily } from '../../schemas/avro/index.js';

const topics: Record<SourceFamily, string> = { user: 'identity.user-events', group: 'identity.group-events', auth: 'identity.auth-events' };
const topicOf = (family: SourceFamily): string => topics[family];

function refusal(eventType: string, family: string, carried: SourceFamily): ConnectorError | null {
  try {
    checkSourceTopic(eventType, family, carried, topicOf);
    return null;
  } catch (error) {
    return error as ConnectorError;
  }
}

describe('checkSourceTopic', () => {
  it('takes each family on the topic whose schema carries it, admin objects on the group topic', () => {
    expect(refusal('USER_CREATED', 'user', 'user')).toBeNull();
    expect(refusal('GROUP_CREATED', 'group', 'group')).toBeNull();
    expect(refusal('WEBHOOK_CREATED', 'admin', 'group')).toBeNull();
    expect(refusal('USER_LOGIN', 'auth', 'auth')).toBeNull();
  });

  it('refuses a group event on the user topic as poison, naming the topic it belongs on', () => {
    const error = refusal('USER_REMOVED_FROM_GROUP', 'group', 'user');
    expect(error).toBeInstanceOf(ConnectorError);
    expect(error!.code).toBe('WRONG_SOURCE_TOPIC');
    expect(error!.kind).toBe('poison');
    expect(error!.message).toContain('USER_REMOVED_FROM_GROUP is a group event');
    expect(error!.message).toContain('identity.group-events');
  });

  it('refuses every other crossing too', () => {
    expect(refusal('APP_CREATED', 'admin', 'user')?.code).toBe('WRONG_SOURCE_TOPIC');
    expect(refusal('USER_LOGIN', 'auth', 'group')?.code).toBe('WRONG_SOURCE_TOPIC');
    expect(refusal('USER_CREATED', 'user', 'auth')?.code).toBe('WRONG_SOURCE_TOPIC');
  });

  it('maps catalog families to source families', () => {
    expect(['user', 'group', 'auth', 'admin'].map(sourceFamilyOf)).toEqual(['user', 'group', 'auth', 'group']);
  });
});
