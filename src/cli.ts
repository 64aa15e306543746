/**
 * The administrator's command-line tool, working directly on the service's data folder (the service may
 * be running: SQLite serialises the writes). `npm run admin -- --help`.
 *
 *   npm run admin -- create-admin --email ann@agency.example --name "Ann Admin"
 *   npm run admin -- reset-password --email ann@agency.example
 *   npm run admin -- rotate-device-token --device <device id>
 *   npm run admin -- verify-audit
 */
import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { ClinicianStore, createClinicianSchema } from './clinicians/store.ts';
import { DeviceStore } from './devices/store.ts';
import { AuditLog } from './audit/audit-log.ts';
import { PASSWORD_MIN_LENGTH, passwordProblem } from './auth/passwords.ts';
import { SessionStore } from './auth/sessions.ts';
import { loadConfig } from './config.ts';
import { AppError, parseOrThrow } from './domain/errors.ts';
import { GroupCommit, openDatabase } from './store/db.ts';

const ACTOR = 'cli';

/** What --password must be; the same rules as POST /v1/clinicians. */
const PASSWORD_HELP = `at least ${PASSWORD_MIN_LENGTH} characters, not a common password (default: a generated one, printed once)`;

/** A password for the person to change: 18 random bytes, about 144 bits (it passes passwordProblem). */
const generatePassword = () => randomBytes(18).toString('base64url');

interface Context {
  clinicians: ClinicianStore;
  devices: DeviceStore;
  audit: AuditLog;
  sessions: SessionStore;
}

async function withData<T>(dataDir: string | undefined, work: (context: Context) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const folder = dataDir ?? config.DATA_DIR;
  const { db, sqlite } = openDatabase({ dataDir: folder });
  const commits = new GroupCommit(db, sqlite);
  try {
    const context = {
      clinicians: new ClinicianStore(db),
      devices: new DeviceStore(db),
      // The service's own key, from the same data folder: what the CLI appends verifies there, and back.
      audit: AuditLog.open(db, commits, folder),
      sessions: new SessionStore(db, { idleMs: config.SESSION_IDLE_TIMEOUT, maxAgeMs: config.SESSION_MAX_AGE }),
    };
    return await work(context);
  } finally {
    await commits.close();
    sqlite.close();
  }
}

const record = (audit: AuditLog, action: string, patientId: string | null = null) =>
  audit.record({ at: Date.now(), actorId: ACTOR, action, patientId, outcome: 'success', requestId: null });

export function buildCli(): Command {
  const program = new Command('homewatch-admin')
    .description('Administer a Homewatch data folder: first account, password resets, device tokens, audit check')
    .addOption(new Option('--data-dir <dir>', 'the service data folder (default: DATA_DIR, else ./data)'))
    .showHelpAfterError()
    .exitOverride();
  const dataDir = () => program.opts<{ dataDir?: string }>().dataDir;

  program
    .command('create-admin')
    .description('create an admin clinician account (the first sign-in)')
    .requiredOption('--email <email>', 'sign-in email')
    .requiredOption('--name <name>', 'full name')
    .option('--password <password>', PASSWORD_HELP)
    .action(async (options: { email: string; name: string; password?: string }) => {
      const password = options.password ?? generatePassword();
      await withData(dataDir(), async ({ clinicians, audit }) => {
        const input = parseOrThrow(
          createClinicianSchema,
          { name: options.name, email: options.email, role: 'admin', password },
          'account',
        );
        const clinician = await clinicians.create(input);
        await record(audit, 'clinician.create');
        console.log(`Created admin ${clinician.email} (id ${clinician.id}).`);
        if (!options.password) console.log(`Password, shown this once: ${password}`);
      });
    });

  program
    .command('reset-password')
    .description('set a new password for a clinician and sign them out everywhere')
    .requiredOption('--email <email>', 'the clinician’s sign-in email')
    .option('--password <password>', PASSWORD_HELP)
    .action(async (options: { email: string; password?: string }) => {
      const password = options.password ?? generatePassword();
      const problem = passwordProblem(password);
      if (problem) throw new AppError('validation_failed', `--password ${problem}`);
      await withData(dataDir(), async ({ clinicians, audit, sessions }) => {
        const email = options.email.trim().toLowerCase();
        const clinician = clinicians.findByEmail(email);
        if (!clinician) throw new AppError('not_found', `No clinician signs in as ${email}`);
        await clinicians.setPassword(clinician.id, password);
        sessions.revokeAll(clinician.id);
        await record(audit, 'clinician.reset_password');
        console.log(`Password reset for ${email}; their sessions are signed out.`);
        if (!options.password) console.log(`New password, shown this once: ${password}`);
      });
    });

  program
    .command('rotate-device-token')
    .description('give a device a new token; the old one stops working (within 30 s on a running service)')
    .requiredOption('--device <id>', 'the device id')
    .action(async (options: { device: string }) => {
      await withData(dataDir(), async ({ devices, audit }) => {
        const rotated = devices.rotateToken(options.device);
        if (!rotated) throw new AppError('not_found', `No device ${options.device}`);
        await record(audit, 'device.rotate_token', rotated.device.patientId);
        console.log(`New token for device ${rotated.device.id}, shown this once:\n${rotated.token}`);
      });
    });

  program
    .command('verify-audit')
    .description('check the audit trail’s keyed hash chain; exits 1 if a row was changed or removed')
    .action(async () => {
      await withData(dataDir(), async ({ audit }) => {
        const result = audit.verify();
        if (!result.ok)
          throw new AppError(
            'conflict',
            `The audit trail is broken${result.brokenAt === undefined ? '' : ` at row ${result.brokenAt}`}: ${result.problem} (after ${result.checked} good rows)`,
          );
        console.log(
          `The audit trail is intact: ${result.checked} ${result.checked === 1 ? 'entry' : 'entries'} verified.`,
        );
      });
    });

  return program;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    await buildCli().parseAsync();
  } catch (error) {
    // commander has already printed its own usage errors; --help and --version end here too.
    const code = (error as { exitCode?: number }).exitCode;
    if (code !== undefined) process.exit(code);
    const details =
      error instanceof AppError && error.details.length
        ? `: ${error.details.map((d) => `${d.path} ${d.message}`).join('; ')}`
        : '';
    process.stderr.write(`homewatch-admin: ${(error as Error).message}${details}\n`);
    process.exit(1);
  }
}
