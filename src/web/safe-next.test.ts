import { describe, expect, it } from 'vitest';
import { safeNext } from './routes.tsx';

/** What the browser makes of a target, as it resolves `location.assign(target)` on the sign-in page. */
const landsOn = (target: string) => new URL(target, 'https://homewatch.example/login').origin;

describe('safeNext: where sign-in may lead', () => {
  it.each([
    ['/', '/'],
    ['/patients', '/patients'],
    ['/patients/p-1?tab=plan#alerts', '/patients/p-1?tab=plan#alerts'],
    ['/?alert=a1', '/?alert=a1'],
    // Normalised as the browser would, so what was checked is what is followed.
    ['/patients/../alerts', '/alerts'],
    ['/%2F%2Fexample.org', '/%2F%2Fexample.org'],
  ])('keeps the path %j on this site as %j', (next, kept) => {
    expect(safeNext(next)).toBe(kept);
  });

  it.each([
    [undefined, 'no target'],
    ['', 'empty'],
    ['patients', 'not starting with /'],
    ['//example.org/phish', 'protocol-relative'],
    ['///example.org', 'protocol-relative, three slashes'],
    ['/\\example.org', 'a backslash (browsers read it as /)'],
    ['\\\\example.org', 'two backslashes'],
    ['/\t/example.org/phish', 'a tab (browsers drop it: //example.org)'],
    ['/\n/example.org/phish', 'a newline (also breaks the Location header)'],
    ['/\r\n/example.org', 'CR LF'],
    ['/\u0000/example.org', 'NUL'],
    ['/\u007f/example.org', 'DEL'],
    ['/\u0085/example.org', 'a C1 control (NEL)'],
    ['/./\t/example.org', 'a tab after a dot segment'],
    ['/.//example.org', 'a dot segment that normalises to //example.org'],
    ['/a/..//example.org', 'a parent segment that normalises to //example.org'],
    ['https://example.org/', 'another origin'],
    ['http:example.org', 'a scheme without slashes'],
    ['javascript:alert(1)', 'javascript:'],
    ['data:text/html,<script>alert(1)</script>', 'data:'],
  ])('refuses %j (%s): home instead', (next, _why) => {
    expect(safeNext(next)).toBe('/');
  });

  it('never returns a target that a browser would follow to another origin', () => {
    const attacks = [
      '/\t/evil.example',
      '/.//evil.example',
      '//evil.example',
      '/\\evil.example',
      'https://evil.example',
    ];
    for (const attack of attacks) expect(landsOn(safeNext(attack))).toBe('https://homewatch.example');
  });
});
