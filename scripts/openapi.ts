/**
 * `npm run openapi`: writes the OpenAPI document the service serves at /docs/json to `openapi.json`,
 * and the typed client's types generated from it (openapi-typescript) to `clients/typescript/schema.d.ts`.
 * test/openapi-document.test.ts fails when either file differs from what this would write.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import { buildApp } from '../plugins/app.js';
import { loadConfig } from '../src/config/config.js';

export const DOCUMENT_FILE = fileURLToPath(new URL('../openapi.json', import.meta.url));
export const CLIENT_TYPES_FILE = fileURLToPath(new URL('../clients/typescript/schema.d.ts', import.meta.url));

/** The document as the service serves it with default settings (in-memory store, no keys). */
export async function servedDocument(): Promise<OpenAPI3> {
  const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent' }), { logger: false });
  try {
    await app.ready();
    return app.swagger() as OpenAPI3;
  } finally {
    await app.close();
  }
}

export function documentText(document: OpenAPI3): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** The client's types, as openapi-typescript writes them (it also validates the document). */
export async function clientTypesText(document: OpenAPI3): Promise<string> {
  return COMMENT_HEADER + astToString(await openapiTS(structuredClone(document), { silent: true }));
}

async function main(): Promise<void> {
  const document = await servedDocument();
  await writeFile(DOCUMENT_FILE, documentText(document));
  await writeFile(CLIENT_TYPES_FILE, await clientTypesText(document));
  process.stdout.write(`wrote ${DOCUMENT_FILE} and ${CLIENT_TYPES_FILE}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
