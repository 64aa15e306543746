/**
 * The page frame every signed-in page shares: the banner, signing out, automatic logoff after the
 * session's idle time, and polling that stops when the user leaves.
 */

const body = document.body;

let leaving = false;

/** Sends the user to sign in again, coming back here afterwards. */
export function sessionEnded(): void {
  if (leaving) return;
  leaving = true;
  const query = new URLSearchParams({ expired: '1', next: location.pathname + location.search });
  location.assign(`/login?${query}`);
}

export async function signOut(reason?: 'idle'): Promise<void> {
  try {
    await fetch('/v1/auth/logout', { method: 'POST', credentials: 'same-origin' });
  } catch {
    // Signed out or not, the cookie's session ends at its idle timeout; go to the sign-in page anyway.
  }
  leaving = true;
  location.assign(reason === 'idle' ? '/login?expired=1' : '/login?signedOut=1');
}

const banner = document.getElementById('banner');

export function showBanner(message: string, kind?: 'error'): void {
  if (!banner) return;
  banner.textContent = message;
  banner.className = kind === 'error' ? 'banner banner--error' : 'banner';
  banner.hidden = false;
}

export function hideBanner(): void {
  if (banner) banner.hidden = true;
}

// Polling counts as activity for the server, so the page itself ends an idle session.
const idleMs = Number(body.dataset.idleMs) || 0;
let lastActivity = Date.now();
for (const type of ['pointerdown', 'keydown', 'wheel', 'touchstart']) {
  addEventListener(type, () => (lastActivity = Date.now()), { passive: true, capture: true });
}

/** Signs out when the session has been idle for its time; true if it has. */
function checkIdle(): boolean {
  if (idleMs > 0 && Date.now() - lastActivity >= idleMs) {
    signOut('idle');
    return true;
  }
  return false;
}
if (idleMs > 0) setInterval(checkIdle, Math.min(30_000, idleMs / 4));

/**
 * Runs `task` now and every `ms` after the previous run ended, at once when the tab comes back, until the
 * session goes idle. Returns a function that runs it now.
 */
export function every(ms: number, task: () => Promise<void>): () => Promise<void> {
  let timer: number | undefined;
  let running = false;
  const run = async () => {
    clearTimeout(timer);
    if (running || leaving || checkIdle()) return;
    running = true;
    try {
      await task();
    } finally {
      running = false;
      if (!leaving) timer = setTimeout(run, ms);
    }
  };
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') run();
  });
  run();
  return run;
}
