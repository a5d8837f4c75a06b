/** How often `waitUntil` asks again: short next to the start-up waits it serves (seconds). */
const POLL_MS = 20;

/**
 * Asks `healthy` until it says yes, for at most `timeoutMs` or until `closed` says the
 * resource was closed meanwhile; answers `healthy()` at the end. For the shared stores'
 * `ready()` (Redis limiter, Redis bus), whose health is a state they keep, not an event.
 */
export async function waitUntil(healthy: () => boolean, timeoutMs: number, closed: () => boolean = () => false): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!healthy() && !closed() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  return healthy();
}
