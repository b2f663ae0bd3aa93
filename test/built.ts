import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

/**
 * Fails unless dist/ was built after the last change to the sources, for the tests whose
 * child processes run the build (`npm test` builds first).
 */
export async function assertBuilt (): Promise<void> {
  const built = await stat(path.join(root, 'dist', 'index.js')).then((info) => info.mtimeMs, () => 0)
  const sources = ['index.ts', ...(await readdir(path.join(root, 'lib'), { recursive: true }))
    .filter((name) => name.endsWith('.ts')).map((name) => path.join('lib', name))]
  for (const source of sources) {
    if ((await stat(path.join(root, source))).mtimeMs > built) {
      throw new Error(`dist/ is older than ${source}: run \`npm run build\` before these tests (npm test does)`)
    }
  }
}
