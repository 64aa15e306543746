import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TOKEN_KEY_FILE, TokenCipher } from './token-cipher.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'homewatch-cipher-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TokenCipher', () => {
  it('opens what it sealed; the sealed text does not hold the token, and differs each time', () => {
    const cipher = TokenCipher.load(dir);
    const token = 'a7f3c9e1b5d2084f6e1c3a9b7d5f2e0c8a4b6d1e';
    const [one, two] = [cipher.seal(token), cipher.seal(token)];
    expect(one).not.toContain(token);
    expect(one).not.toBe(two);
    expect(cipher.open(one)).toBe(token);
    expect(cipher.open(two)).toBe(token);
  });

  it('keeps its key in DATA_DIR, readable by the owner only, and reuses it', () => {
    const sealed = TokenCipher.load(dir).seal('x');
    expect(TokenCipher.load(dir).open(sealed)).toBe('x');
    const file = path.join(dir, TOKEN_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(file, 'utf8'), 'base64')).toHaveLength(32);
  });

  it('refuses a changed text, or one sealed under another key', () => {
    const cipher = TokenCipher.load(dir);
    const sealed = cipher.seal('token');
    const [version, iv, tag, data] = sealed.split('.');
    const flipped = Buffer.from(data!, 'base64url');
    flipped[0]! ^= 1;
    expect(() => cipher.open([version, iv, tag, flipped.toString('base64url')].join('.'))).toThrow();
    expect(() => new TokenCipher(Buffer.alloc(32, 7)).open(sealed)).toThrow();
    expect(() => cipher.open('token')).toThrow('not a sealed token');
  });
});
