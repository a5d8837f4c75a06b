// Loaded into the soak's server process (NODE_OPTIONS=--expose-gc --import …): on SIGUSR2 it
// collects garbage and reports the live heap on stderr, so the soak compares live memory
// rather than how far V8 chose to grow its heap.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  process.stderr.write(`gc-probe ${JSON.stringify({ heapUsed, rss })}\n`);
});
