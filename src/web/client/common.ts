// What every page runs (Layout loads it first): the sign-out button, and the /logout page signing out.
// The banner, automatic logoff and polling live in frame.ts, which the page scripts import; as ES
// modules from one bundle, they share its one copy and its state.
import { signOut } from './frame.ts';

document.getElementById('sign-out')?.addEventListener('click', () => signOut());
if (document.body.dataset.page === 'logout') signOut();
