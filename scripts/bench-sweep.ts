/**
 * The missing-data sweep at scale: N patients (default 10,000) on the heart-failure plan, in a fresh
 * SQLite database, swept as the clock sweeps them (inside a group commit). Prints the first sweep (cold
 * caches, as after a start) and the next ones (as every minute after), then one JSON line.
 *
 *   npm run bench:sweep -- --patients 10000
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AlertStore } from '../src/alerts/store.ts';
import { CarePlanStore, expandCarePlan, loadTemplates } from '../src/care-plans/store.ts';
import { RuleEngine } from '../src/rules/engine.ts';
import { GroupCommit, openDatabase } from '../src/store/db.ts';
import { patients } from '../src/store/schema.ts';

const { values: args } = parseArgs({ options: { patients: { type: 'string', default: '10000' } } });
const count = Number(args.patients);
const dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-bench-sweep-'));
const { db, sqlite } = openDatabase({ dataDir });
const carePlans = new CarePlanStore(db);
const engine = new RuleEngine(db, carePlans, new AlertStore(db));
const commits = new GroupCommit(db, sqlite);
const { rules } = expandCarePlan({ templates: ['heart-failure'], rules: [] }, loadTemplates());
sqlite.transaction(() => {
  for (let i = 0; i < count; i++) {
    db.insert(patients)
      .values({ id: `p${i}`, name: `Patient ${i}`, createdAt: Date.now() })
      .run();
    carePlans.save(`p${i}`, ['heart-failure'], rules, 'bench', Date.now());
  }
})();

const sweeps: number[] = [];
for (let i = 0; i < 5; i++) {
  const started = performance.now();
  await commits.run(() => engine.sweepMissing(Date.now()));
  sweeps.push(Math.round(performance.now() - started));
}
await commits.close();
sqlite.close();
await rm(dataDir, { recursive: true, force: true });
const warm = [...sweeps.slice(1)].sort((a, b) => a - b)[2]!;
console.log(
  `Missing-data sweep over ${count} patients with the heart-failure plan: first ${sweeps[0]} ms, then ${warm} ms (median of 4)`,
);
console.log(JSON.stringify({ patients: count, firstSweepMs: sweeps[0], warmSweepMs: warm }));
