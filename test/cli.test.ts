import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService } from './helpers/service.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');

/** Runs `npm run admin -- …` the way an administrator would (node + tsx, against a data folder). */
async function admin(dataDir: string, ...args: string[]) {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', '--data-dir', dataDir, ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function login(url: string, email: string, password: string) {
  return fetch(`${url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
}

describe('homewatch-admin (npm run admin)', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-cli-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('creates the first admin, who signs in with the printed password; resetting it signs them out', async () => {
    const created = await admin(dataDir, 'create-admin', '--email', 'Ann@Agency.example', '--name', 'Ann Admin');
    expect(created.code).toBe(0);
    const password = created.stdout.match(/shown this once: (\S+)/)![1]!;
    expect(password.length).toBeGreaterThanOrEqual(20);

    const again = await admin(dataDir, 'create-admin', '--email', 'ann@agency.example', '--name', 'Ann Again');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/email is already in use/);

    let svc = await startTestService({}, dataDir);
    const signedIn = await login(svc.url, 'ann@agency.example', password);
    expect(signedIn.status).toBe(200);
    const { token, clinician } = await signedIn.json();
    expect(clinician).toMatchObject({ email: 'ann@agency.example', role: 'admin' });
    expect((await svc.request('/v1/clinicians', token)).status).toBe(200);

    const reset = await admin(
      dataDir,
      'reset-password',
      '--email',
      'ann@agency.example',
      '--password',
      'a-brand-new-passphrase',
    );
    expect(reset.code).toBe(0);
    expect((await svc.request('/v1/clinicians', token)).status).toBe(401); // signed out everywhere
    expect((await login(svc.url, 'ann@agency.example', password)).status).toBe(401);
    expect((await login(svc.url, 'ann@agency.example', 'a-brand-new-passphrase')).status).toBe(200);
    await svc.stop();

    const missing = await admin(dataDir, 'reset-password', '--email', 'nobody@agency.example');
    expect(missing).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('No clinician signs in as nobody@agency.example'),
    });
    const weak = await admin(
      dataDir,
      'create-admin',
      '--email',
      'x@agency.example',
      '--name',
      'X',
      '--password',
      'short',
    );
    expect(weak).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('password must have at least 12 characters'),
    });
    const common = await admin(
      dataDir,
      'create-admin',
      '--email',
      'x@agency.example',
      '--name',
      'X',
      '--password',
      'password1234',
    );
    expect(common).toMatchObject({ code: 1, stderr: expect.stringContaining('password is too common') });
    const commonReset = await admin(
      dataDir,
      'reset-password',
      '--email',
      'ann@agency.example',
      '--password',
      'Password1234!',
    );
    expect(commonReset).toMatchObject({ code: 1, stderr: expect.stringContaining('--password is too common') });

    svc = await startTestService({}, dataDir);
    try {
      const { events } = await (await svc.admin('/v1/audit?actorId=cli')).json();
      expect(events.map((e: { action: string }) => e.action)).toEqual(['clinician.reset_password', 'clinician.create']);
    } finally {
      await svc.stop();
    }
  });

  it('rotates a device token: the old one stops working, the printed one works', async () => {
    let svc = await startTestService({}, dataDir);
    const device = await svc.provision('scale');
    await svc.stop();

    const rotated = await admin(dataDir, 'rotate-device-token', '--device', device.deviceId);
    expect(rotated.code).toBe(0);
    const token = rotated.stdout.trim().split('\n').at(-1)!;
    expect(token).toMatch(/^hwd_/);

    svc = await startTestService({}, dataDir);
    try {
      const reading = { type: 'weight', measuredAt: Date.now() - 60_000, value: 80, unit: 'kg' };
      expect((await svc.postReadings(device.token, reading)).status).toBe(401);
      expect((await svc.postReadings(token, reading)).status).toBe(200);
    } finally {
      await svc.stop();
    }
    expect((await admin(dataDir, 'rotate-device-token', '--device', 'nope')).code).toBe(1);
  });

  it('verify-audit passes on an intact trail and fails, naming the row, on a changed one', async () => {
    const intact = await admin(dataDir, 'verify-audit');
    expect(intact).toMatchObject({ code: 0, stdout: expect.stringMatching(/intact: \d+ entries verified/) });

    const sqlite = new Database(path.join(dataDir, 'homewatch.db'));
    const { seq } = sqlite.prepare('select min(seq) as seq from audit_events').get() as { seq: number };
    sqlite.prepare("update audit_events set action = 'nothing.to.see' where seq = ?").run(seq);
    sqlite.close();

    const broken = await admin(dataDir, 'verify-audit');
    expect(broken).toMatchObject({ code: 1, stderr: expect.stringContaining(`broken at row ${seq}`) });
  });
});
