import { describe, expect, it } from 'vitest';
import { CLINICIAN_ROLES } from '../clinicians/store.ts';
import { CLINICIAN_ROLE_LABELS } from './clinician-role.ts';

describe('clinician role words', () => {
  it('name every role an account may have, and no other', () => {
    expect(Object.keys(CLINICIAN_ROLE_LABELS).sort()).toEqual([...CLINICIAN_ROLES].sort());
  });
});
