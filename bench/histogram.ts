// The latency histogram the load generators fill and the runner merges: 0.1 ms buckets below
// 100 ms, 10 ms buckets up to 10 s, and one bucket beyond.
export const BUCKETS = 2000

export function bucketOf(ms: number): number {
  if (ms < 100) return Math.max(0, Math.floor(ms * 10))
  if (ms < 10_000) return 1000 + Math.floor((ms - 100) / 10)
  return BUCKETS - 1
}

/** The upper bound of a bucket, in ms: what a percentile falling in it reports. */
export function bucketValue(index: number): number {
  return index < 1000 ? (index + 1) / 10 : 100 + (index - 999) * 10
}
