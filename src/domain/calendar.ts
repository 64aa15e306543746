/**
 * Local days and weeks of a time zone, as instants (pure). A daily trend of a Chicago patient groups
 * her 07:00 and 19:00 weights into one bucket, the day she lives, not two UTC days; weeks start on Monday.
 * Days are 23 or 25 hours long at daylight-saving changes, so they are found by the calendar, not by
 * adding 24 hours.
 */
const DAY_MS = 86_400_000;

const formats = new Map<string, Intl.DateTimeFormat>();
function format(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formats.set(timeZone, f);
  }
  return f;
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** The wall-clock fields of the instant in the zone. */
function wallClock(t: number, timeZone: string) {
  const parts: Record<string, string> = {};
  for (const part of format(timeZone).formatToParts(t)) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    /** 0 for Monday. */
    weekday: WEEKDAYS.indexOf(parts.weekday!),
  };
}

/** The zone's offset from UTC at the instant, in ms (Chicago in winter: -6 h). */
function offsetAt(t: number, timeZone: string): number {
  const w = wallClock(t, timeZone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(t / 1000) * 1000;
}

/** The instant the local date (year, month, day) begins in the zone. */
function startOfLocalDate(year: number, month: number, day: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day);
  // The offset at the guess may differ from the offset at midnight across a change: one more round settles it.
  let guess = wall - offsetAt(wall, timeZone);
  guess = wall - offsetAt(guess, timeZone);
  return guess;
}

/** The start of the local day (or, with `week`, of the local week, on Monday) holding the instant. */
export function startOfLocal(t: number, unit: 'day' | 'week', timeZone: string): number {
  const w = wallClock(t, timeZone);
  const back = unit === 'week' ? w.weekday : 0;
  const date = new Date(Date.UTC(w.year, w.month - 1, w.day - back));
  return startOfLocalDate(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), timeZone);
}

/** The start of the next local day or week after the one starting at `start`. */
export function nextLocal(start: number, unit: 'day' | 'week', timeZone: string): number {
  // Past the longest day (25 h) or week, but not into the one after.
  return startOfLocal(start + (unit === 'week' ? 7 * DAY_MS : DAY_MS) + 2 * 3_600_000, unit, timeZone);
}

/**
 * The starts of the local days or weeks that meet [from, to). One zone lookup per bucket: the next start
 * is a day (or week) later, moved by the change of offset when daylight saving began or ended in between.
 */
export function localStarts(from: number, to: number, unit: 'day' | 'week', timeZone: string): number[] {
  const step = unit === 'week' ? 7 * DAY_MS : DAY_MS;
  const starts: number[] = [];
  let start = startOfLocal(from, unit, timeZone);
  let offset = offsetAt(start, timeZone);
  while (start < to) {
    starts.push(start);
    const next = start + step;
    const nextOffset = timeZone === 'UTC' ? offset : offsetAt(next, timeZone);
    start = next - (nextOffset - offset);
    offset = nextOffset;
  }
  return starts;
}
