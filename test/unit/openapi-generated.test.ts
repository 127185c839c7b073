// The served OpenAPI document is generated: its schemas from the zod schemas of app/schemas/api.ts,
// its operations from app/api/openapi.ts. The committed docs/openapi.json must be exactly that
// document (for the default base path). After a deliberate change, write it again with
// `WRITE_OPENAPI=1 npx jest test/unit/openapi-generated.test.ts` and commit the diff.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openApiDocument } from '../../app/api/openapi';
import { loadConfig } from '../../app/config';
import { API_SCHEMAS, apiComponentSchemas } from '../../app/schemas/api';

const FILE = path.resolve(__dirname, '../../docs/openapi.json');

describe('generated OpenAPI document', () => {
  // The default base path (the config's, with the one setting a config needs).
  const basePath = loadConfig({ JWT_HS256_SECRET: 'x'.repeat(32) }).BASE_PATH;
  const generated = openApiDocument(basePath);

  test('equals the committed docs/openapi.json', () => {
    const text = `${JSON.stringify(generated, null, 2)}\n`;
    if (process.env.WRITE_OPENAPI === '1') writeFileSync(FILE, text);
    expect(JSON.parse(readFileSync(FILE, 'utf8'))).toEqual(generated);
    expect(readFileSync(FILE, 'utf8')).toBe(text);
  });

  test('components.schemas are the zod schemas, one per document, refs between them', () => {
    const schemas = (generated as { components: { schemas: Record<string, unknown> } }).components.schemas;
    expect(Object.keys(schemas).sort()).toEqual(Object.keys(API_SCHEMAS).sort());
    expect(schemas).toEqual(apiComponentSchemas());
    const goalView = schemas.GoalView as { properties: Record<string, unknown> };
    expect(goalView.properties.requirement).toEqual({ $ref: '#/components/schemas/Requirement' });
    expect(JSON.stringify(schemas)).not.toContain('"$schema"');
    expect(JSON.stringify(schemas)).not.toContain('9007199254740991');
  });
});
