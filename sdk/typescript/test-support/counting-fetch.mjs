// A fetch that counts the requests the SDK makes, so a test can tell a cache hit (no request)
// from a miss, and wait for a background refresh to finish.
export function countingFetch() {
  const pending = new Set();
  const counter = {
    requests: 0,
    paths: [],
    fetch(input, init) {
      counter.requests += 1;
      counter.paths.push(new URL(input).pathname);
      const answer = fetch(input, init);
      pending.add(answer);
      const done = () => pending.delete(answer);
      answer.then(done, done);
      return answer;
    },
    /** Resolves when every request made so far has been answered (or failed). */
    async settled() {
      while (pending.size) {
        await Promise.allSettled([...pending]);
      }
      // The SDK stores the answer a few microtasks after fetch resolves.
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
  return counter;
}

/** A clock the test moves: real time plus an offset in milliseconds. */
export function movableClock() {
  const clock = {
    offsetMs: 0,
    now: () => Date.now() + clock.offsetMs,
  };
  return clock;
}
