import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { influxdAvailable, requireBinary, startInfluxd, type RunningInfluxd } from './influxd.ts';

describe.skipIf(!requireBinary('influxd', influxdAvailable()))('test helper: startInfluxd', () => {
  let influx: RunningInfluxd;

  beforeAll(async () => {
    influx = await startInfluxd();
  }, 30_000);

  afterAll(async () => {
    await influx?.stop();
  }, 15_000);

  it('answers /ping on a free loopback port', async () => {
    expect(influx.url).toBe(`http://127.0.0.1:${influx.port}`);
    const res = await fetch(`${influx.url}/ping`);
    expect(res.status).toBe(204);
    expect(res.headers.get('x-influxdb-version')).toMatch(/^1\./);
  });

  it('creates a database, writes a point and reads it back', async () => {
    const q = (params: Record<string, string>) => `${influx.url}/query?${new URLSearchParams(params)}`;

    const created = await fetch(q({ q: 'CREATE DATABASE t' }), { method: 'POST' });
    expect(created.status).toBe(200);
    expect(await created.json()).toEqual({ results: [{ statement_id: 0 }] });

    const at = Date.parse('2026-01-02T03:04:05.678Z');
    const written = await fetch(`${influx.url}/write?db=t&precision=ms`, {
      method: 'POST',
      body: `m,device=d1 value=94.5,pulse=80i ${at}\n`,
    });
    expect(written.status, await written.clone().text()).toBe(204);

    const read = await fetch(q({ db: 't', q: 'SELECT * FROM m', epoch: 'ms' }));
    expect(read.status).toBe(200);
    const body = (await read.json()) as {
      results: { series?: { name: string; columns: string[]; values: unknown[][] }[] }[];
    };
    expect(body.results[0]?.series).toEqual([
      { name: 'm', columns: ['time', 'device', 'pulse', 'value'], values: [[at, 'd1', 80, 94.5]] },
    ]);
  });
});
