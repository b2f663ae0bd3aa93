import { test } from 'tap'
import { MemorySessionStore } from '../../index.js'
import { describeSessionStore } from '../../lib/store-conformance.js'

describeSessionStore('MemorySessionStore', () => new MemorySessionStore(), { test })
