import { AppError } from './errors.ts';

/** A page cursor: the last item's time and id, so that pages neither skip nor repeat equal times. */
export interface Cursor {
  at: number;
  id: string;
}

export function encodeCursor(at: number, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}

/** The cursor a client sent back, or undefined if it is not one this API gave out. */
export function decodeCursor(cursor: string): Cursor | undefined {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof at === 'number' && typeof id === 'string') return { at, id };
  } catch {
    // fall through: an unreadable cursor is the caller's error
  }
  return undefined;
}

/** A `cursor` query parameter, refused with the contract's validation error when it is not a cursor. */
export function cursorParam(cursor: string): Cursor {
  const decoded = decodeCursor(cursor);
  if (decoded) return decoded;
  throw new AppError('validation_failed', 'The query is not valid', [
    { path: 'cursor', message: 'is not a cursor this API gave out' },
  ]);
}
