/**
 * The servers the benchmark compares. Each runs in a child process of its
 * own (bench/server.ts), built from one of these descriptions.
 */
export interface PluginSetup {
  enabled: boolean
  asyncContext: boolean
  /** How many exclusion patterns (bench/patterns.ts). */
  patterns: number
  store: 'memory' | 'file' | 'redis'
}

export interface Row {
  id: string
  label: string
  framework: 'fastify' | 'express'
  /** What the server adds to the bare framework. */
  setup:
    | { kind: 'bare' }
    | { kind: 'context-hook' }
    | { kind: 'plugin', plugin: PluginSetup }
    | { kind: 'fastify-bugsnag' }
    | { kind: 'plugin-express' }
  /** The row this one is a ratio of. */
  baseline: string
  /** A second baseline: the context-only hook, for rows that run an async context. */
  contextBaseline?: string
  /** The export of the package this row needs, when not every build has it. */
  needs?: 'FileSessionStore' | 'RedisSessionStore'
  /** Left out unless asked for (--all, --only), to keep the default run short. */
  extra?: boolean
}

const plugin = (id: string, label: string, setup: PluginSetup, needs?: Row['needs'], extra = false): Row => ({
  id,
  label,
  framework: 'fastify',
  setup: { kind: 'plugin', plugin: setup },
  baseline: 'fastify',
  ...(setup.asyncContext ? { contextBaseline: 'fastify-context' } : {}),
  ...(needs === undefined ? {} : { needs }),
  ...(extra ? { extra } : {})
})

const sessions = (patterns: number, asyncContext: boolean, store: PluginSetup['store'] = 'memory'): PluginSetup =>
  ({ enabled: true, asyncContext, patterns, store })

export const ROWS: Row[] = [
  { id: 'fastify', label: 'bare Fastify', framework: 'fastify', setup: { kind: 'bare' }, baseline: 'fastify' },
  {
    id: 'fastify-context',
    label: 'Fastify + context-only onRequest hook (AsyncLocalStorage run)',
    framework: 'fastify',
    setup: { kind: 'context-hook' },
    baseline: 'fastify',
    contextBaseline: 'fastify-context'
  },
  plugin('disabled', 'plugin, sessions disabled, asyncContext:false', { enabled: false, asyncContext: false, patterns: 0, store: 'memory' }),
  plugin('disabled-ctx', 'plugin, sessions disabled, asyncContext:true', { enabled: false, asyncContext: true, patterns: 0, store: 'memory' }),
  plugin('p0', 'plugin, 0 patterns, asyncContext:false', sessions(0, false)),
  plugin('p1', 'plugin, 1 pattern, asyncContext:false', sessions(1, false)),
  plugin('p10', 'plugin, 10 patterns, asyncContext:false', sessions(10, false)),
  plugin('p100', 'plugin, 100 patterns, asyncContext:false', sessions(100, false)),
  plugin('p0-ctx', 'plugin, 0 patterns, asyncContext:true', sessions(0, true)),
  plugin('p10-ctx', 'plugin, 10 patterns, asyncContext:true', sessions(10, true)),
  plugin('p100-ctx', 'plugin, 100 patterns, asyncContext:true', sessions(100, true)),
  plugin('file', 'plugin, file store, 10 patterns, asyncContext:false', sessions(10, false, 'file'), 'FileSessionStore'),
  plugin('file-ctx', 'plugin, file store, 10 patterns, asyncContext:true', sessions(10, true, 'file'), 'FileSessionStore', true),
  plugin('redis', 'plugin, Redis store, 10 patterns, asyncContext:false', sessions(10, false, 'redis'), 'RedisSessionStore'),
  plugin('redis-ctx', 'plugin, Redis store, 10 patterns, asyncContext:true', sessions(10, true, 'redis'), 'RedisSessionStore', true),
  {
    id: 'fastify-bugsnag',
    label: 'fastify-bugsnag 1.1.0 (version check bypassed; no sessions)',
    framework: 'fastify',
    setup: { kind: 'fastify-bugsnag' },
    baseline: 'fastify'
  },
  { id: 'express', label: 'bare Express', framework: 'express', setup: { kind: 'bare' }, baseline: 'express' },
  {
    id: 'express-bugsnag',
    label: 'Express + @bugsnag/plugin-express (sessions on)',
    framework: 'express',
    setup: { kind: 'plugin-express' },
    baseline: 'express'
  }
]

/** A 32-hex placeholder: no real API key is ever used, and nothing leaves the machine. */
export const PLACEHOLDER_API_KEY = '0123456789abcdef0123456789abcdef'
