import type { FastifyInstance } from 'fastify'
import type { Collector } from '../lib/collector.js'

/**
 * Closes the app on SIGINT and SIGTERM, then the local collector: the app's
 * close delivers the pending sessions, so it goes first.
 */
export function closeOnSignals (app: FastifyInstance, collector: Collector | null): void {
  let closing = false
  async function shutdown (signal: string): Promise<void> {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'closing: pending sessions are delivered first')
    await app.close()
    await collector?.close()
    process.exit(0)
  }
  process.once('SIGINT', () => { shutdown('SIGINT') })
  process.once('SIGTERM', () => { shutdown('SIGTERM') })
}
