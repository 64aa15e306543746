import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

const DAY = 86_400_000;
/** Midnight UTC some days ago, so every reading is in the past and days are whole. */
const day0 = Math.floor(Date.now() / DAY) * DAY - 10 * DAY;

describe('GET /v1/patients/{id}/readings', () => {
  it('buckets by day computed from the stored readings, matching hand-computed values', async () => {
    const device = await svc.provision('bp_monitor');
    const at = (day: number, hour: number) => day0 + day * DAY + hour * 3_600_000;
    const readings = [
      { type: 'blood_pressure', measuredAt: at(0, 7), systolic: 150, diastolic: 95, pulse: 80 },
      { type: 'blood_pressure', measuredAt: at(0, 19), systolic: 130, diastolic: 85, pulse: 70 },
      { type: 'blood_pressure', measuredAt: at(0, 21), systolic: 140, diastolic: 81 },
      { type: 'blood_pressure', measuredAt: at(2, 7), systolic: 121, diastolic: 79, pulse: 61 },
    ];
    expect((await svc.postReadings(device.token, { readings })).status).toBe(200);

    const response = await svc.admin(`/v1/patients/${device.patientId}/readings?type=blood_pressure&bucket=1d`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      type: 'blood_pressure',
      bucket: '1d',
      buckets: [
        {
          start: new Date(day0).toISOString(),
          count: 3,
          min: { systolic: 130, diastolic: 81, pulse: 70 },
          max: { systolic: 150, diastolic: 95, pulse: 80 },
          mean: { systolic: 140, diastolic: 87, pulse: 75 },
        },
        {
          start: new Date(day0 + 2 * DAY).toISOString(),
          count: 1,
          min: { systolic: 121, diastolic: 79, pulse: 61 },
          max: { systolic: 121, diastolic: 79, pulse: 61 },
          mean: { systolic: 121, diastolic: 79, pulse: 61 },
        },
      ],
    });

    const hourly = await (
      await svc.admin(
        `/v1/patients/${device.patientId}/readings?type=blood_pressure&bucket=1h&from=${new Date(at(0, 12)).toISOString()}&to=${new Date(at(1, 0)).toISOString()}`,
      )
    ).json();
    expect(hourly.buckets.map((b: { start: string; count: number }) => [b.start, b.count])).toEqual([
      [new Date(at(0, 19)).toISOString(), 1],
      [new Date(at(0, 21)).toISOString(), 1],
    ]);
  });

  it('weight buckets are in kg whatever unit the scale sent', async () => {
    const device = await svc.provision('scale');
    const readings = [
      { type: 'weight', measuredAt: day0 + 1000, value: 176.37, unit: 'lb' }, // 176.37 × 0.45359237 = 80.00008 → 80.0001 kg
      { type: 'weight', measuredAt: day0 + 2000, value: 82000, unit: 'g' },
      { type: 'weight', measuredAt: day0 + 3000, value: 84, unit: 'kg' },
    ];
    await svc.postReadings(device.token, { readings });
    const { buckets } = await (
      await svc.admin(`/v1/patients/${device.patientId}/readings?type=weight&bucket=1w`)
    ).json();
    expect(buckets).toHaveLength(1);
    expect(buckets[0]).toMatchObject({ count: 3, min: 80.0001, max: 84 });
    expect(buckets[0].mean).toBeCloseTo((80.0001 + 82 + 84) / 3, 6);
  });

  it('pages raw readings oldest first with the next cursor', async () => {
    const device = await svc.provision('pulse_oximeter');
    const readings = Array.from({ length: 25 }, (_, i) => ({
      type: 'spo2',
      measuredAt: day0 + (25 - i) * 60_000,
      value: 90 + (i % 9),
    }));
    await svc.postReadings(device.token, { readings });
    const seen: string[] = [];
    let query = '?type=spo2&limit=10';
    for (let page = 0; page < 3; page++) {
      const body = await svc.readings(device.patientId, query);
      seen.push(...body.readings.map((r) => r.measuredAt as string));
      if (page < 2) expect(body.next).toEqual(expect.any(String));
      else expect(body.next).toBeUndefined();
      query = `?type=spo2&limit=10&cursor=${body.next}`;
    }
    expect(seen).toHaveLength(25);
    expect([...seen].sort()).toEqual(seen);
  });

  it('refuses bad queries with the parameter named', async () => {
    const patientId = await svc.createPatient();
    const bad = async (query: string) =>
      (await (await svc.admin(`/v1/patients/${patientId}/readings${query}`)).json()).error;
    expect((await bad('?bucket=1d')).details).toEqual([{ path: 'type', message: 'is required with bucket' }]);
    expect((await bad('?type=glucose')).details[0].path).toBe('type');
    expect((await bad('?limit=10001')).details).toEqual([{ path: 'limit', message: 'must be at most 10000' }]);
    expect((await bad('?bucket=5m&type=spo2')).details[0].path).toBe('bucket');
    expect((await bad('?from=yesterday')).details[0].path).toBe('from');
  });

  it('answers 404 for an unknown patient', async () => {
    const response = await svc.admin('/v1/patients/nobody/readings');
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('not_found');
  });
});
