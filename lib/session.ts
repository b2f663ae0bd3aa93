import { randomUUID } from 'node:crypto'
import type { Event } from '@bugsnag/js'
import type { SessionLike } from './bugsnag.js'

interface EventCounter {
  /** `crashedSince` is the session's start when this event is its first unhandled one, else null. */
  countEvent (unhandled: boolean, crashedSince: number | null): void
}

/**
 * One request's (or job's) session, in the shape Bugsnag's core expects of
 * a session: events reported through the request's client are counted here
 * and serialised with the counts as they are when the event is sent.
 * Built only when something needs it; the tracker counted the session at
 * the start of the request already.
 */
export class RequestSession implements SessionLike {
  readonly id: string
  readonly startedAt: Date
  app: Record<string, unknown> = {}
  device: Record<string, unknown> = {}
  _handled = 0
  _unhandled = 0
  #user: { id?: string | null, email?: string | null, name?: string | null } = {}
  #counter: EventCounter | null

  /** `counter` is null for a session that is not counted (an onSession callback may still veto it). */
  constructor (startedAt: number, counter: EventCounter | null) {
    this.id = randomUUID()
    this.startedAt = new Date(startedAt)
    this.#counter = counter
  }

  /** Makes the session count its events in the tracker's stats. */
  countIn (counter: EventCounter): void {
    this.#counter = counter
  }

  getUser (): { id?: string | null, email?: string | null, name?: string | null } {
    return this.#user
  }

  setUser (id?: string | null, email?: string | null, name?: string | null): void {
    this.#user = { id, email, name }
  }

  _track (event: Event): void {
    const unhandled = (event as unknown as { _handledState: { unhandled: boolean } })._handledState.unhandled
    if (unhandled) this._unhandled++
    else this._handled++
    this.#counter?.countEvent(unhandled, unhandled && this._unhandled === 1 ? this.startedAt.getTime() : null)
  }

  toJSON (): { id: string, startedAt: Date, events: { handled: number, unhandled: number } } {
    return { id: this.id, startedAt: this.startedAt, events: { handled: this._handled, unhandled: this._unhandled } }
  }
}
