import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import avro from 'avsc';
import { afterEach, describe, expect, it } from 'vitest';
import { classify, poison, transient } from '../../connector/errors.js';
import { createAvroDecoder } from '../../connector/ingest/decode.js';
import { createSchemaRegistryClient, type SchemaRegistryClient } from '../../connector/kafka/schema-registry.js';

/** A local HTTP server answering every request with `answer` (or never, without one). */
async function serve(answer?: (path: string) => { status: number; body: unknown }): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (!answer) return;
    const { status, body } = answer(req.url ?? '');
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}

describe('the schema registry client (local HTTP servers)', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
  const client = async (answer?: Parameters<typeof serve>[0]) => {
    const served = await serve(answer);
    servers.push(served.server);
    return { ...served, registry: createSchemaRegistryClient({ url: served.url, username: '', password: '', requestTimeoutMs: 200 }) };
  };

  it('gives up on a registry that never answers, as a transient failure, rather than waiting for good', async () => {
    const { registry } = await client();
    const started = Date.now();
    const failure = await registry.writerType(7).catch((error: unknown) => classify(error));
    expect(failure).toMatchObject({ kind: 'transient', code: 'REGISTRY_UNAVAILABLE' });
    // Three tries of 200 ms each, and the pauses between them.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('believes a 404 for a schema id only from a URL that answers as a registry', async () => {
    const notARegistry = await client(() => ({ status: 404, body: { message: 'no such page' } }));
    expect(await notARegistry.registry.writerType(7).catch((error: unknown) => classify(error))).toMatchObject({ kind: 'transient', code: 'REGISTRY_UNAVAILABLE' });

    const registryLike = await client((path) => (path === '/subjects' ? { status: 200, body: ['identity.user-events-value'] } : { status: 404, body: { error_code: 40403, message: 'Schema 7 not found' } }));
    expect(await registryLike.registry.writerType(7).catch((error: unknown) => classify(error))).toMatchObject({ kind: 'poison', code: 'UNKNOWN_SCHEMA_ID' });
  });

  it('takes a schema the registry returns but that does not parse as poison, and a refused connection or a 5xx as transient', async () => {
    const schemas: Record<string, unknown> = {
      '/schemas/ids/1': { schema: JSON.stringify({ type: 'record', name: 'X', fields: [{ name: 'a', type: 'int', default: 'nope' }] }) },
      '/schemas/ids/2': { schema: 'not json at all' },
    };
    const { registry } = await client((path) => (schemas[path] ? { status: 200, body: schemas[path] } : { status: 503, body: { message: 'down' } }));
    for (const id of [1, 2]) {
      expect(await registry.writerType(id).catch((error: unknown) => classify(error)), `schema ${id}`).toMatchObject({ kind: 'poison', code: 'SCHEMA_INVALID' });
    }
    expect(await registry.writerType(3).catch((error: unknown) => classify(error))).toMatchObject({ kind: 'transient', code: 'REGISTRY_UNAVAILABLE' });
    // A proxy answering 200 with a page of its own is no registry's schema: an outage, not poison.
    const proxy = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>log in</html>'));
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    servers.push(proxy);
    const behindProxy = createSchemaRegistryClient({ url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, username: '', password: '', requestTimeoutMs: 200 });
    expect(await behindProxy.writerType(1).catch((error: unknown) => classify(error))).toMatchObject({ kind: 'transient', code: 'REGISTRY_UNAVAILABLE' });
    const refused = createSchemaRegistryClient({ url: 'http://127.0.0.1:1', username: '', password: '', requestTimeoutMs: 200 });
    expect(await refused.writerType(1).catch((error: unknown) => classify(error))).toMatchObject({ kind: 'transient', code: 'REGISTRY_UNAVAILABLE' });
  });

  it('checks readiness with its credentials, as a registry that requires them sees its other requests', async () => {
    const { url, server } = await serve(() => ({ status: 200, body: [] }));
    servers.push(server);
    const seen: Array<string | undefined> = [];
    server.prependListener('request', (req) => seen.push(req.headers.authorization));
    await createSchemaRegistryClient({ url, username: 'router', password: 's3cret' }).ready();
    expect(seen).toEqual([`Basic ${Buffer.from('router:s3cret').toString('base64')}`]);
    const notARegistry = await client(() => ({ status: 404, body: { message: 'no such page' } }));
    await expect(notARegistry.registry.ready()).rejects.toThrow(/HTTP 404/);
  });
});

/** A registry answering writer schemas through `writerType`, and nothing else the decoder asks for. */
const fakeRegistry = (writerType: SchemaRegistryClient['writerType']): SchemaRegistryClient => ({
  writerType, register: async () => 0, encode: async () => Buffer.alloc(0), setCompatibility: async () => undefined, ready: async () => undefined,
});

/** Magic byte 0, the schema id, and a body byte. */
const withId = (id: number): Buffer => {
  const value = Buffer.alloc(6);
  value.writeInt32BE(id, 1);
  return value;
};

describe('the Avro decoder\'s memory of unknown schema ids', () => {
  const reader: avro.Schema = { type: 'record', name: 'E', fields: [{ name: 'a', type: 'string' }] };
  /** Wire format of schema id 9 with a body the reader schema decodes. */
  const record = Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), avro.Type.forSchema(reader).toBuffer({ a: 'x' })]);

  it('asks once more after a pause, then believes the registry for a minute, so a schema registered since is found', async () => {
    let clock = 0;
    let registered = false;
    const asked: number[] = [];
    const registry = fakeRegistry(async (id) => {
      asked.push(id);
      if (!registered) throw poison('UNKNOWN_SCHEMA_ID', `schema id ${id} is not in the registry`);
      return avro.Type.forSchema(reader);
    });
    const decoder = createAvroDecoder(registry, reader, () => clock, 0);
    const first = await decoder.prepare([record]);
    expect(() => first(record)).toThrow(/not in the registry/);
    // Asked twice: the second time after the pause a lagging replica gets to catch up.
    expect(asked).toEqual([9, 9]);
    registered = true;
    clock = 59_000;
    await decoder.prepare([record]);
    expect(asked).toEqual([9, 9]);
    clock = 60_000;
    const later = await decoder.prepare([record]);
    expect(asked).toEqual([9, 9, 9]);
    expect(later(record)).toEqual({ a: 'x' });
  });

  it('decodes the records of a schema a lagging replica learns of during the pause, rather than dead-lettering them', async () => {
    let lookups = 0;
    // Unknown at the first ask, known at the next: a replica that read the registration in between.
    const registry = fakeRegistry(async (id) => {
      lookups += 1;
      if (lookups === 1) throw poison('UNKNOWN_SCHEMA_ID', `schema id ${id} is not in the registry`);
      return avro.Type.forSchema(reader);
    });
    const started = Date.now();
    const decode = await createAvroDecoder(registry, reader, Date.now, 300).prepare([record]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(decode(record)).toEqual({ a: 'x' });
  });

  it('keeps no memory of a registry outage: the slice fails, and the next try asks again and decodes', async () => {
    let up = false;
    const asked: number[] = [];
    const registry = fakeRegistry(async (id) => {
      asked.push(id);
      if (!up) throw transient('REGISTRY_UNAVAILABLE', 'schema registry did not answer');
      return avro.Type.forSchema(reader);
    });
    // The clock never moves: an outage remembered like an unknown id would be believed for a minute.
    const decoder = createAvroDecoder(registry, reader, () => 0, 0);
    await expect(decoder.prepare([record])).rejects.toMatchObject({ kind: 'transient', code: 'REGISTRY_UNAVAILABLE' });
    up = true;
    const decode = await decoder.prepare([record]);
    expect(asked).toEqual([9, 9]);
    expect(decode(record)).toEqual({ a: 'x' });
  });

  it('forgets unknown ids past its bound between slices, never within one: every record of a slice of 1,001 unknown ids is poison', async () => {
    const registry = fakeRegistry(async (id) => Promise.reject(poison('UNKNOWN_SCHEMA_ID', `schema id ${id} is not in the registry`)));
    const decoder = createAvroDecoder(registry, reader, Date.now, 0);
    for (const round of [0, 1]) {
      const records = Array.from({ length: 1001 }, (_, i) => withId(round * 2000 + i + 1));
      const decode = await decoder.prepare(records);
      for (const value of records) expect(() => decode(value)).toThrow(/is not in the registry/);
    }
  });

  it('gives every slice meeting a new id during the pause the answer after it: no partition dead-letters what another then decodes', async () => {
    let asked = 0;
    let registered = false;
    const registry = fakeRegistry(async (id) => {
      asked += 1;
      if (!registered) throw poison('UNKNOWN_SCHEMA_ID', `schema id ${id} is not in the registry`);
      return avro.Type.forSchema(reader);
    });
    const decoder = createAvroDecoder(registry, reader, Date.now, 2000);
    const beats: string[] = [];
    // Partition 0 meets the id first; partitions 1 and 2 meet it while partition 0's pause runs (begun once asked).
    const first = decoder.prepare([record], async () => void beats.push('p0'));
    while (asked < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    const others = [decoder.prepare([record], async () => void beats.push('p1')), decoder.prepare([record], async () => void beats.push('p2'))];
    registered = true; // the replica catches up during the pause
    for (const decode of await Promise.all([first, ...others])) expect(decode(record)).toEqual({ a: 'x' });
    expect(asked).toBe(2);
    // The first slice heartbeats before the pause; every slice after its lookups.
    expect(beats[0]).toBe('p0');
    expect(beats.sort()).toEqual(['p0', 'p0', 'p1', 'p2']);
  });

  it('takes its view of ids it already knows before its lookups: another slice forgetting them meanwhile changes nothing', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let blocked = true;
    const registry = fakeRegistry(async (id) => {
      // The new id's first lookup waits until the test lets it go; every answer is "not in the registry".
      if (id === 9999 && blocked) {
        blocked = false;
        await released;
      }
      throw poison('UNKNOWN_SCHEMA_ID', `schema id ${id} is not in the registry`);
    });
    const decoder = createAvroDecoder(registry, reader, Date.now, 0);
    // 999 ids believed unknown, one short of the bound.
    await decoder.prepare(Array.from({ length: 999 }, (_, i) => withId(i + 1)));
    const known = withId(1);
    const mine = decoder.prepare([known, withId(9999)]);
    // While this slice waits on its lookup, other partitions' slices reach the bound and forget the oldest half, id 1.
    await decoder.prepare([withId(20_000)]);
    await decoder.prepare([withId(20_001)]);
    release();
    const decode = await mine;
    // Still poison (dead-lettered), not "not prepared" (transient: the whole slice retried).
    expect(() => decode(known)).toThrow(expect.objectContaining({ kind: 'poison', code: 'UNKNOWN_SCHEMA_ID' }));
  });

  it('decodes a slice from its own view: another slice forgetting every id meanwhile changes nothing in it', async () => {
    const registry = fakeRegistry(async (id) => Promise.reject(poison('UNKNOWN_SCHEMA_ID', `schema id ${id} is not in the registry`)));
    const decoder = createAvroDecoder(registry, reader, Date.now, 0);
    const mine = [withId(1), withId(2)];
    const decode = await decoder.prepare(mine);
    // Two more slices of garbage ids pass the bound of remembered ids: the first slice's are forgotten.
    await decoder.prepare(Array.from({ length: 1000 }, (_, i) => withId(10 + i)));
    await decoder.prepare(Array.from({ length: 1000 }, (_, i) => withId(5000 + i)));
    // Still poison (dead-lettered), not "not prepared" (transient: the whole slice retried, over and over).
    for (const value of mine) expect(() => decode(value)).toThrow(expect.objectContaining({ kind: 'poison', code: 'UNKNOWN_SCHEMA_ID' }));
  });
});
