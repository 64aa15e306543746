// Part of `npm run build`: copies what src/ holds besides TypeScript (migrations, web assets, the
// service worker) next to the compiled files in dist/, where the code looks for them.
import { cpSync } from 'node:fs';

cpSync('src', 'dist', { recursive: true, filter: (file) => !/\.tsx?$/.test(file) });
