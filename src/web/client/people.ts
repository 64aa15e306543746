// Who is signed in (from the page's data-user-* attributes), and the names of colleagues as far as this
// user may know them: GET /v1/clinicians is for administrators only.
import { api } from './api.ts';
import type { Clinicians } from './responses.ts';

export const me = {
  id: document.body.dataset.userId ?? '',
  role: document.body.dataset.userRole ?? '',
};
export const isAdmin = me.role === 'admin';

const ADMIN_TOKEN_ID = 'admin-token';

/** Every clinician, for an administrator; nobody for anyone else (the API would answer 403). */
export async function listClinicians(): Promise<Clinicians['clinicians']> {
  return isAdmin ? (await api<Clinicians>('/v1/clinicians')).clinicians : [];
}

/**
 * Words for a clinician id: "you", their name when this page knows it (`known`: e.g. the care team, or
 * every clinician for an administrator), else "a colleague".
 */
export function namer(known: Iterable<{ id: string; name: string }>): (clinicianId: string) => string {
  const names = new Map([...known].map((c) => [c.id, c.name]));
  return (id) =>
    id === me.id ? 'you' : (names.get(id) ?? (id === ADMIN_TOKEN_ID ? 'an administrator (token)' : 'a colleague'));
}
