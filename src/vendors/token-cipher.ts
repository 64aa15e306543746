import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The key's file in DATA_DIR: 32 random bytes, base64, readable by the service's user only. */
export const TOKEN_KEY_FILE = 'vendor-tokens.key';

const VERSION = 'v1';

/**
 * Seals the vendor OAuth tokens Homewatch must use again (Withings'), so that they can be stored: a
 * token is a credential to the patient's account and cannot be hashed like our own secrets, but a copy
 * of the database alone (a backup, a support dump) must not hand it out. AES-256-GCM with a key kept
 * beside the database in DATA_DIR, generated at first start: whoever holds the whole DATA_DIR holds
 * both, as with the VAPID keys.
 */
export class TokenCipher {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the token key must be 32 bytes');
  }

  /** The key in DATA_DIR, created (mode 0600) when there is none yet. */
  static load(dataDir: string): TokenCipher {
    const file = path.join(dataDir, TOKEN_KEY_FILE);
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    return new TokenCipher(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'));
  }

  /** `v1.<iv>.<tag>.<ciphertext>`, base64url; a new random IV each time. */
  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), sealed]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
  }

  /** The token; throws when the text was not sealed with this key or was changed. */
  open(sealed: string): string {
    const [version, iv, tag, data] = sealed.split('.');
    if (version !== VERSION || iv === undefined || tag === undefined || data === undefined) {
      throw new Error('not a sealed token');
    }
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  }
}
