import { describe, expect, it } from 'vitest';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { resourceTypeOf, samplePayload } from '../../connector/events/sample-payload.js';

const catalog = loadEventCatalog();

describe('samplePayload', () => {
  it('gives each type the fields seed 000 shows for it', () => {
    expect(Object.keys(samplePayload(catalog, 'USER_CREATED', 'acme')).sort()).toEqual(['email', 'organization', 'remainingSeats', 'userId', 'username']);
    expect(Object.keys(samplePayload(catalog, 'USER_DISABLED', 'acme')).sort()).toEqual(['email', 'organization', 'userId', 'username']);
    expect(samplePayload(catalog, 'USER_REMOVED_FROM_GROUP', 'acme')).toMatchObject({ groupName: 'Demo-Group', organization: 'acme' });
    // An alias gets its type's shape.
    expect(samplePayload(catalog, 'GROUP_USER_REMOVED', 'acme')).toHaveProperty('groupName');
  });

  it('names the object of an admin-family event by the type without its verb', () => {
    expect(samplePayload(catalog, 'API_KEY_CREATED', 'acme')).toMatchObject({ resourceType: 'api_key', resourceName: 'demo' });
    expect(resourceTypeOf('WEBHOOK_DELETED')).toBe('webhook');
    expect(resourceTypeOf('SCOPE_DEC_UPDATED')).toBe('scope_dec');
    expect(resourceTypeOf('LICENSE_STATE_CHANGED')).toBe('license');
    expect(resourceTypeOf('APP_MODIFIED')).toBe('app');
    expect(resourceTypeOf('PHYSICAL_VERIFICATION_REMOVED')).toBe('physical_verification');
  });

  it('refuses a type the catalog does not have', () => {
    expect(() => samplePayload(catalog, 'USER_TELEPORTED', 'acme')).toThrow(/unknown event type/);
  });
});
