import { Worker, type ResourceLimits } from 'node:worker_threads';

/**
 * Starts `module` (a sibling module's URL, named without extension) in a worker thread: the compiled
 * JavaScript as is, or the TypeScript source (tests, `npm run dev`) through tsx's loader, registered in
 * the new thread before the module is imported. `resourceLimits` size the thread's own heap (a
 * --max-semi-space-size given to node would override them for every thread).
 */
export function startWorker(module: URL, workerData: unknown, resourceLimits?: ResourceLimits): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL(`${module.href}.js`), { workerData, resourceLimits });
  const source = `${module.href}.ts`;
  const code = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); })`;
  return new Worker(code, { eval: true, workerData, resourceLimits });
}

/**
 * Posts messages in arrays, one per turn of the event loop: a burst of MQTT messages crosses between the
 * threads in one hop, not one each. The receiver takes an array.
 */
export function batched<T>(post: (messages: T[]) => void): (message: T) => void {
  let pending: T[] = [];
  return (message) => {
    if (pending.push(message) > 1) return;
    setImmediate(() => {
      const messages = pending;
      pending = [];
      post(messages);
    });
  };
}
