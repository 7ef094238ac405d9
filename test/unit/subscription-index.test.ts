import { describe, expect, it } from 'vitest';
import { patternMatches } from '../../connector/subscriptions/match.js';
import { buildSubscriptionIndex } from '../../connector/subscriptions/subscription-index.js';

describe('patternMatches', () => {
  it('matches exact types, family wildcards and everything', () => {
    expect(patternMatches('USER_CREATED', 'USER_CREATED', 'user')).toBe(true);
    expect(patternMatches('USER_CREATED', 'USER_DISABLED', 'user')).toBe(false);
    expect(patternMatches('user.*', 'USER_DISABLED', 'user')).toBe(true);
    expect(patternMatches('group.*', 'USER_DISABLED', 'user')).toBe(false);
    expect(patternMatches('*', 'USER_LOGIN', 'auth')).toBe(true);
  });
});

describe('buildSubscriptionIndex', () => {
  const index = buildSubscriptionIndex([
    { id: 'exact', organization: 'acme', eventTypes: ['USER_CREATED'] },
    { id: 'family', organization: 'acme', eventTypes: ['user.*'] },
    { id: 'all', organization: 'acme', eventTypes: ['*'] },
    { id: 'both', organization: 'acme', eventTypes: ['USER_CREATED', 'user.*'] },
    { id: 'other-org', organization: 'globex', eventTypes: ['*'] },
  ]);
  const ids = (org: string, type: string, family: string): string[] => index.match(org, type, family).map((r) => r.id).sort();

  it('finds every webhook of the organization whose patterns select the event, once each', () => {
    expect(ids('acme', 'USER_CREATED', 'user')).toEqual(['all', 'both', 'exact', 'family']);
    expect(ids('acme', 'USER_DISABLED', 'user')).toEqual(['all', 'both', 'family']);
    expect(ids('acme', 'USER_LOGIN', 'auth')).toEqual(['all']);
  });

  it('never crosses organizations', () => {
    expect(ids('globex', 'USER_CREATED', 'user')).toEqual(['other-org']);
    expect(ids('initech', 'USER_CREATED', 'user')).toEqual([]);
  });

  it('counts webhooks, not patterns', () => {
    expect(index.size).toBe(5);
  });
});

describe('subscription index updates', () => {
  it('moves a webhook to its new patterns and organization when it is put again', () => {
    const index = buildSubscriptionIndex([
      { id: 'a', organization: 'acme', eventTypes: ['USER_CREATED'] },
      { id: 'b', organization: 'acme', eventTypes: ['USER_CREATED'] },
    ]);
    index.put({ id: 'a', organization: 'acme', eventTypes: ['group.*'] });
    expect(index.match('acme', 'USER_CREATED', 'user').map((r) => r.id)).toEqual(['b']);
    expect(index.match('acme', 'GROUP_CREATED', 'group').map((r) => r.id)).toEqual(['a']);
    index.put({ id: 'a', organization: 'globex', eventTypes: ['*'] });
    expect(index.match('acme', 'GROUP_CREATED', 'group')).toEqual([]);
    expect(index.match('globex', 'USER_LOGIN', 'auth').map((r) => r.id)).toEqual(['a']);
    expect(index.size).toBe(2);
  });

  it('removes a webhook from every pattern, and ignores ids it does not hold', () => {
    const index = buildSubscriptionIndex([{ id: 'a', organization: 'acme', eventTypes: ['USER_CREATED', 'user.*', '*'] }]);
    index.remove('a');
    index.remove('never-there');
    expect(index.match('acme', 'USER_CREATED', 'user')).toEqual([]);
    expect(index.size).toBe(0);
  });

  it('hands out copies: a later change does not alter a match already returned', () => {
    const index = buildSubscriptionIndex([{ id: 'a', organization: 'acme', eventTypes: ['USER_CREATED'] }]);
    const before = index.match('acme', 'USER_CREATED', 'user');
    index.put({ id: 'b', organization: 'acme', eventTypes: ['USER_CREATED'] });
    expect(before.map((r) => r.id)).toEqual(['a']);
  });
});
