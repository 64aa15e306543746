import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Device tokens: 256 random bits, prefixed so a leaked one is recognisable in a log or a repository scan. */
export function generateDeviceToken(): string {
  return `hwd_${randomBytes(32).toString('base64url')}`;
}

/** SHA-256, hex. Right for high-entropy random tokens (not for passwords, which get a slow hash). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}
