import { and, asc, eq, gt, inArray, lte } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import { awayPeriods, clinicians, onCallShifts } from '../store/schema.ts';

export interface AwayPeriod {
  from: number;
  until: number;
  note: string | null;
}

export interface OnCallShift {
  clinicianId: string;
  from: number;
  until: number;
}

/**
 * Who can be reached when: each clinician's away periods and the agency's on-call rota. Routing asks
 * it at every escalation step, so a nurse who set herself away at 19:00 is skipped from 19:00 on.
 */
export class AvailabilityStore {
  constructor(private readonly db: Db) {}

  awayPeriods(clinicianId: string): AwayPeriod[] {
    return this.db
      .select({ from: awayPeriods.from, until: awayPeriods.until, note: awayPeriods.note })
      .from(awayPeriods)
      .where(eq(awayPeriods.clinicianId, clinicianId))
      .orderBy(asc(awayPeriods.from))
      .all();
  }

  /** Replaces the clinician's whole list. */
  setAwayPeriods(clinicianId: string, periods: readonly AwayPeriod[]): void {
    this.db.transaction((tx) => {
      tx.delete(awayPeriods).where(eq(awayPeriods.clinicianId, clinicianId)).run();
      if (periods.length)
        tx.insert(awayPeriods)
          .values(periods.map((p) => ({ ...p, clinicianId })))
          .run();
    });
  }

  shifts(): OnCallShift[] {
    return this.db
      .select({ clinicianId: onCallShifts.clinicianId, from: onCallShifts.from, until: onCallShifts.until })
      .from(onCallShifts)
      .orderBy(asc(onCallShifts.from))
      .all();
  }

  /** Replaces the rota. */
  setShifts(shifts: readonly OnCallShift[]): void {
    this.db.transaction((tx) => {
      tx.delete(onCallShifts).run();
      if (shifts.length)
        tx.insert(onCallShifts)
          .values([...shifts])
          .run();
    });
  }

  /**
   * Of `clinicianIds`, those who cannot be reached at `now`: inside an away period, or disabled.
   */
  unavailable(clinicianIds: readonly string[], now: number): Set<string> {
    if (clinicianIds.length === 0) return new Set();
    const ids = [...new Set(clinicianIds)];
    const away = this.db
      .select({ id: awayPeriods.clinicianId })
      .from(awayPeriods)
      .where(and(inArray(awayPeriods.clinicianId, ids), lte(awayPeriods.from, now), gt(awayPeriods.until, now)))
      .all();
    const disabled = this.db
      .select({ id: clinicians.id, disabledAt: clinicians.disabledAt })
      .from(clinicians)
      .where(inArray(clinicians.id, ids))
      .all()
      .filter((row) => row.disabledAt !== null);
    return new Set([...away, ...disabled].map((row) => row.id));
  }

  /** The on-call clinician on shift at `now` who can be reached (the earliest-starting shift wins). */
  onCallAt(now: number): string | null {
    const onShift = this.db
      .select({ clinicianId: onCallShifts.clinicianId })
      .from(onCallShifts)
      .where(and(lte(onCallShifts.from, now), gt(onCallShifts.until, now)))
      .orderBy(asc(onCallShifts.from))
      .all()
      .map((row) => row.clinicianId);
    const unavailable = this.unavailable(onShift, now);
    return onShift.find((id) => !unavailable.has(id)) ?? null;
  }
}
