/**
 * Whether a URL's host is on an operator's list (PUSH_ENDPOINT_HOSTS, WEBHOOK_ALLOWED_HOSTS): entries are
 * host names, IP addresses (IPv6 in brackets), `*.domain` wildcards, each optionally with `:port`, and
 * then only that port. What an entry without a port allows is the caller's choice: only 443 (push
 * services are public HTTPS), or any port (an agency's internal webhook receiver).
 */
export function hostListed(url: URL, entries: readonly string[], withoutPort: 'https port only' | 'any port'): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port || '443';
  return entries.some((entry) => {
    const [name, entryPort] = entry.toLowerCase().split(/:(?=\d+$)/) as [string, string | undefined];
    if (entryPort !== undefined ? entryPort !== port : withoutPort === 'https port only' && port !== '443')
      return false;
    return name.startsWith('*.') ? host.endsWith(name.slice(1)) && host.length > name.length - 1 : host === name;
  });
}
