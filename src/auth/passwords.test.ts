import { describe, expect, it } from 'vitest';
import { isCommonPassword, newPasswordSchema, passwordProblem } from './passwords.ts';

describe('passwordProblem: the rules for a new password', () => {
  it.each([
    ['password1234', /common/],
    ['PASSWORD1234', /common/],
    ['Password1234!', /common/],
    ['1234password', /common/],
    ['!!!iloveyou2024', /common/],
    ['qwerty123456', /common/],
    ['1qaz2wsx3edc', /common/],
    ['123456789012', /common/],
    ['000000000001', /common/],
    ['aaaaaaaaaaaa', /one character repeated/],
    ['111111111111', /one character repeated/],
    ['ééééééééééééé', /one character repeated/],
    ['short-11-ch', /at least 12 characters/],
    ['', /at least 12 characters/],
  ])('refuses %j', (password, problem) => {
    expect(passwordProblem(password)).toMatch(problem);
  });

  it.each([
    'correct horse battery staple',
    'a-long-enough-password',
    'Pässwörd-3f9c2a71',
    'tulip-lantern-4417',
    // The CLI's generated passwords: 18 random bytes, base64url.
    'q0Zr3u9AbX2kLm7PwYc_1s-E',
    '839201746153',
  ])('accepts %j', (password) => {
    expect(passwordProblem(password)).toBeUndefined();
  });

  it('counts characters, not UTF-16 units: twelve emoji are twelve characters', () => {
    expect(passwordProblem('🐢🦊🐙🦉🐝🦋🐞🦀🐬🦓🐘🦒')).toBeUndefined();
    expect(passwordProblem('🐢🦊🐙🦉🐝🦋')).toMatch(/at least 12/);
  });

  it('finds a common password with digits or symbols around it, but not inside other letters', () => {
    expect(isCommonPassword('dragon')).toBe(true);
    expect(isCommonPassword('2024dragon!!')).toBe(true);
    expect(isCommonPassword('dragonfly-meadow')).toBe(false);
    expect(isCommonPassword('snapdragon4ever')).toBe(false);
  });

  it('is the zod schema POST /v1/clinicians and the CLI use, with one message per problem', () => {
    const result = newPasswordSchema.safeParse('password1234');
    expect(result.success).toBe(false);
    expect(result.error?.issues).toHaveLength(1);
    expect(newPasswordSchema.safeParse('x'.repeat(1025)).success).toBe(false);
    expect(newPasswordSchema.safeParse('correct horse battery staple').success).toBe(true);
  });
});
