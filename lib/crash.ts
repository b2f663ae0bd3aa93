import type { InternalClient } from './bugsnag.js'
import type { SessionTracker } from './tracker.js'

/**
 * Bugsnag's uncaught-exception handler reports the error, then calls the
 * client's `onUncaughtException`, whose default ends the process. Wrapping
 * it lets pending sessions be delivered (memory store) or handed to a shared
 * store first, within `closeTimeout`, instead of dying with the process.
 * Returns what undoes the wrapping.
 */
export function deliverBeforeCrash (client: InternalClient, tracker: SessionTracker): () => void {
  const config = client._config
  // Bugsnag's Node configuration always has one: its default logs the error and exits.
  const original = config.onUncaughtException

  config.onUncaughtException = function easyBugsnagOnUncaughtException (error, event, logger) {
    tracker.close().finally(() => original(error, event, logger))
  }
  return () => { config.onUncaughtException = original }
}
