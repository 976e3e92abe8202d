/**
 * `npm run openapi`: writes labs-server/openapi.yaml from the API's contract
 * (contract/api.ts). The unit tests fail while the file differs from what
 * this writes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../cluster/src/paths.ts';
import { openApiYaml } from '../contract/openapi.ts';

export const OPENAPI_FILE = join(projectRoot, 'labs-server', 'openapi.yaml');

if (import.meta.main) {
  writeFileSync(OPENAPI_FILE, openApiYaml());
  process.stderr.write(`wrote ${OPENAPI_FILE}\n`);
}
