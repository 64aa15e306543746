import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { dictionary } from '@zxcvbn-ts/language-common';
import { z } from 'zod';

/**
 * Password hashing with scrypt from node:crypto, at OWASP's recommended cost (N=2^17, r=8, p=1: about
 * 0.5 s and 128 MiB on a small server). The parameters are stored with each hash, so raising them later
 * re-hashes nobody's password but applies to every new one.
 */
const COST = { N: 2 ** 17, r: 8, p: 1 };
const KEY_BYTES = 64;
const MAX_MEMORY = 256 * 1024 * 1024;

export const PASSWORD_MIN_LENGTH = 12;
const PASSWORD_MAX_LENGTH = 1024;

/**
 * The 10,000 most common passwords: the head of zxcvbn-ts's list (@zxcvbn-ts/language-common, MIT,
 * drawn from breach corpora and ordered by frequency). All lower case, at most 16 characters.
 */
const COMMON_PASSWORDS = new Set(dictionary['passwords-common'].slice(0, 10_000));
const COMMON_MAX_LENGTH = Math.max(...[...COMMON_PASSWORDS].map((common) => common.length));
/** A shorter core is not looked for among affixes: a 12-digit password merely starting with "12" is not "12". */
const AFFIXED_CORE_MIN_LENGTH = 4;

/**
 * Whether, ignoring case, the password is a common one, or a common one with digits and symbols added
 * before or after it (`password1234`, `!!!iloveyou2024`, `123456789012`): the 10,000 hold few passwords
 * of 12 characters or more, and those are mostly made this way. The core must hold every letter, so
 * only digits and symbols count as added; a password of digits and symbols only is checked for a common
 * start or end.
 */
export function isCommonPassword(password: string): boolean {
  const text = password.normalize('NFKC').toLowerCase();
  if (COMMON_PASSWORDS.has(text)) return true;
  const letters = [...text.matchAll(/\p{L}/gu)];
  const firstLetter = letters[0]?.index;
  const afterLastLetter = letters.length ? letters.at(-1)!.index + letters.at(-1)![0].length : undefined;
  for (let start = 0; start <= (firstLetter ?? text.length); start++) {
    for (let end = Math.max(afterLastLetter ?? 0, start + AFFIXED_CORE_MIN_LENGTH); end <= text.length; end++) {
      if (end - start > COMMON_MAX_LENGTH) break;
      if (firstLetter === undefined && start > 0 && end < text.length) continue;
      if (COMMON_PASSWORDS.has(text.slice(start, end))) return true;
    }
  }
  return false;
}

/**
 * Why a new password is refused, or undefined when it is acceptable: long, not one character repeated,
 * not common (NIST SP 800-63B §5.1.1.2: length and a blocklist, no composition rules).
 */
export function passwordProblem(password: string): string | undefined {
  const characters = [...password.normalize('NFKC')];
  if (characters.length < PASSWORD_MIN_LENGTH) return `must have at least ${PASSWORD_MIN_LENGTH} characters`;
  if (characters.every((character) => character === characters[0])) return 'must not be one character repeated';
  if (isCommonPassword(password))
    return 'is too common: it is among the most used passwords (digits or symbols around it do not help)';
  return undefined;
}

/** A password being set (a new account, a reset): every rule of passwordProblem. */
export const newPasswordSchema = z
  .string()
  .max(PASSWORD_MAX_LENGTH)
  .superRefine((password, ctx) => {
    const problem = passwordProblem(password);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

function derive(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...cost, maxmem: MAX_MEMORY };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_BYTES, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Runs the full derivation even for a missing account (pass undefined), so timing does not reveal which emails exist. */
export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = (stored ?? DUMMY_HASH).split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await derive(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) });
  return stored !== undefined && actual.length === expected.length && timingSafeEqual(actual, expected);
}

const DUMMY_HASH = ['scrypt', COST.N, COST.r, COST.p, 'AAAAAAAAAAAAAAAAAAAAAA', 'A'.repeat(86)].join('$');
