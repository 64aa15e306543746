/** A map that forgets everything when it grows past `max`: caches refill from the database. */
export function bounded<K, V>(map: Map<K, V>, max: number): Map<K, V> {
  if (map.size >= max) map.clear();
  return map;
}

/**
 * The inner map of a two-level cache (by patient, then metric or rule), created when missing. Past `max`
 * outer keys the cache forgets everyone first, as `bounded` does; without `max` nothing is dropped.
 */
export function inner<K, V>(cache: Map<string, Map<K, V>>, key: string, max = Infinity): Map<K, V> {
  let map = cache.get(key);
  if (!map) {
    map = new Map();
    bounded(cache, max).set(key, map);
  }
  return map;
}
