/** What `promise` settles to, or `fallback` once `ms` have passed, whichever comes first. */
export function within<T> (promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<T>((resolve) => { timer = setTimeout(resolve, ms, fallback) })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}
