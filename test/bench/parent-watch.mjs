// Preloaded (`node --import ./test/bench/parent-watch.mjs …`) into every server the benchmark
// runner starts, Portkey's included: the process exits when the runner that started it is gone
// (killed with SIGKILL, say), so no server outlives a benchmark. Costs one unref'd 1 s timer.
const parent = process.ppid;
setInterval(() => {
  // SIGTERM, not exit(): the server's own handler cleans up (Sluice removes its temporary data dir).
  if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM');
}, 1000).unref();
