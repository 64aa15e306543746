import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadingType, StoredReading } from '../src/domain/reading.ts';
import type { ReadingStore } from '../src/store/reading-store.ts';

/**
 * What every ReadingStore must do, written once and run against each implementation (SQLite here,
 * InfluxDB in its own file), so the API answers the same whichever store an agency runs.
 */
export function describeReadingStoreContract(
  name: string,
  open: () => Promise<{ store: ReadingStore; close(): Promise<void> }>,
) {
  describe(`ReadingStore contract: ${name}`, () => {
    let store: ReadingStore;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ store, close } = await open());
    });
    afterAll(() => close());

    const T0 = Date.parse('2026-03-02T00:00:00Z'); // a Monday
    const H = 3_600_000;
    const D = 24 * H;

    function reading(
      patientId: string,
      type: ReadingType,
      measuredAt: number,
      fields: Partial<StoredReading>,
    ): StoredReading {
      return {
        id: randomUUID(),
        deviceId: `device-${patientId}`,
        patientId,
        type,
        measuredAt,
        receivedAt: measuredAt + 1000,
        messageId: null,
        systolic: null,
        diastolic: null,
        pulse: null,
        value: null,
        unit: null,
        ...fields,
      };
    }
    const weight = (patientId: string, at: number, kg: number) =>
      reading(patientId, 'weight', at, { value: kg, unit: 'kg' });
    const bp = (patientId: string, at: number, systolic: number, diastolic: number, pulse: number | null) =>
      reading(patientId, 'blood_pressure', at, { systolic, diastolic, pulse, unit: 'mmHg' });

    it('lists a patient’s readings oldest first, filtered by type and a [from, to) range', async () => {
      const patient = randomUUID();
      const rows = [
        weight(patient, T0 + 2 * H, 80),
        weight(patient, T0 + H, 81),
        bp(patient, T0 + 90 * 60_000, 120, 80, 60),
      ];
      await store.append([...rows, weight(randomUUID(), T0 + H, 99)]);
      const all = await store.list({ patientId: patient, limit: 100 });
      expect(all.readings.map((r) => r.measuredAt)).toEqual([T0 + H, T0 + 90 * 60_000, T0 + 2 * H]);
      expect(all.next).toBeUndefined();
      const weights = await store.list({ patientId: patient, type: 'weight', limit: 100 });
      expect(weights.readings).toEqual([rows[1], rows[0]]);
      const ranged = await store.list({ patientId: patient, from: T0 + H, to: T0 + 2 * H, limit: 100 });
      expect(ranged.readings.map((r) => r.measuredAt)).toEqual([T0 + H, T0 + 90 * 60_000]);
    });

    it('keeps every field as stored', async () => {
      const patient = randomUUID();
      const row = reading(patient, 'spo2', T0, { value: 93.5, pulse: 101, messageId: 'm-1' });
      await store.append([row]);
      expect((await store.list({ patientId: patient, limit: 10 })).readings).toEqual([row]);
    });

    it('appending the same reading again stores it once', async () => {
      const patient = randomUUID();
      const row = weight(patient, T0, 70);
      await store.append([row]);
      await store.append([row]);
      expect((await store.list({ patientId: patient, limit: 10 })).readings).toHaveLength(1);
    });

    it('pages with a cursor that neither skips nor repeats readings taken at the same time', async () => {
      const patient = randomUUID();
      const rows = Array.from({ length: 25 }, (_, i) =>
        reading(patient, 'spo2', T0 + Math.floor(i / 5) * 60_000, { value: 90 + (i % 10), deviceId: `d${i}` }),
      );
      await store.append(rows);
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ patientId: patient, limit: 7, after });
        seen.push(...page.readings.map((r) => r.id));
        after = page.next;
        pages++;
      } while (after);
      expect(pages).toBe(4);
      expect(new Set(seen).size).toBe(25);
      expect(seen.sort()).toEqual(rows.map((r) => r.id).sort());
    });

    it('buckets by hour, day and Monday-based week with count, min, max and mean', async () => {
      const patient = randomUUID();
      await store.append([
        weight(patient, T0 + 7 * H, 80), // Mon
        weight(patient, T0 + 7 * H + 30 * 60_000, 82), // Mon, same hour
        weight(patient, T0 + 19 * H, 84), // Mon evening
        weight(patient, T0 + D + 7 * H, 81), // Tue
        weight(patient, T0 + 7 * D + 7 * H, 90), // next Mon: next week
        weight(patient, T0 - 1, 70), // Sunday 23:59:59.999: the week before
      ]);
      const hourly = await store.buckets({ patientId: patient, type: 'weight', bucket: '1h', from: T0, to: T0 + D });
      expect(hourly).toEqual([
        { start: T0 + 7 * H, count: 2, min: 80, max: 82, mean: 81 },
        { start: T0 + 19 * H, count: 1, min: 84, max: 84, mean: 84 },
      ]);
      const daily = await store.buckets({ patientId: patient, type: 'weight', bucket: '1d', from: T0, to: T0 + 2 * D });
      expect(daily).toEqual([
        { start: T0, count: 3, min: 80, max: 84, mean: 82 },
        { start: T0 + D, count: 1, min: 81, max: 81, mean: 81 },
      ]);
      const weekly = await store.buckets({ patientId: patient, type: 'weight', bucket: '1w' });
      expect(weekly).toEqual([
        { start: T0 - 7 * D, count: 1, min: 70, max: 70, mean: 70 },
        { start: T0, count: 4, min: 80, max: 84, mean: 81.75 },
        { start: T0 + 7 * D, count: 1, min: 90, max: 90, mean: 90 },
      ]);
    });

    it("buckets days and weeks in the patient's time zone: a Chicago patient's 07:00 and 19:00 weights share a day", async () => {
      const patient = randomUUID();
      const chicago = (local: string) => Date.parse(`${local}-06:00`);
      await store.append([
        weight(patient, chicago('2026-03-02T07:00:00'), 80), // Monday morning
        weight(patient, chicago('2026-03-02T19:00:00'), 82), // Monday evening: Tuesday 01:00 UTC
        weight(patient, chicago('2026-03-03T07:00:00'), 81), // Tuesday
      ]);
      const daily = await store.buckets({
        patientId: patient,
        type: 'weight',
        bucket: '1d',
        timeZone: 'America/Chicago',
      });
      expect(daily).toEqual([
        { start: chicago('2026-03-02T00:00:00'), count: 2, min: 80, max: 82, mean: 81 },
        { start: chicago('2026-03-03T00:00:00'), count: 1, min: 81, max: 81, mean: 81 },
      ]);
      const weekly = await store.buckets({
        patientId: patient,
        type: 'weight',
        bucket: '1w',
        timeZone: 'America/Chicago',
      });
      expect(weekly).toEqual([{ start: chicago('2026-03-02T00:00:00'), count: 3, min: 80, max: 82, mean: 81 }]);
    });

    it('buckets blood pressure per component; pulse statistics skip readings without a pulse', async () => {
      const patient = randomUUID();
      await store.append([
        bp(patient, T0 + H, 120, 80, 60),
        bp(patient, T0 + 2 * H, 150, 95, null),
        bp(patient, T0 + 3 * H, 141, 86, 70),
      ]);
      const [day] = await store.buckets({ patientId: patient, type: 'blood_pressure', bucket: '1d' });
      expect(day).toEqual({
        start: T0,
        count: 3,
        min: { systolic: 120, diastolic: 80, pulse: 60 },
        max: { systolic: 150, diastolic: 95, pulse: 70 },
        mean: { systolic: 137, diastolic: 87, pulse: 65 },
      });
    });

    it('answers an empty list for a patient or range with no readings', async () => {
      expect(await store.list({ patientId: randomUUID(), limit: 10 })).toEqual({ readings: [] });
      expect(await store.buckets({ patientId: randomUUID(), type: 'spo2', bucket: '1d' })).toEqual([]);
    });
  });
}
