/**
 * The operator guide is part of the product: a wrong line there blocks browser use (issue 13, finding 5).
 * These checks pin the statements Qlik's own pages make, with their sources.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const guide = readFileSync(new URL('../../../docs/oauth.md', import.meta.url), 'utf8');
const M2M_GUIDE = 'https://qlik.dev/authenticate/oauth/create/create-oauth-client-m2m-impersonation/';

/** The cells of the registration table's row named `setting`. */
function registrationRow(setting: string): string[] {
  const line = guide.split('\n').find((l) => l.startsWith(`| ${setting} |`));
  if (line === undefined) throw new Error(`docs/oauth.md has no "${setting}" row`);
  return line
    .split('|')
    .map((cell) => cell.trim())
    .slice(1, -1);
}

describe('Document: docs/oauth.md', () => {
  it('tells operators to put the app’s origin in the impersonation client’s Allowed origins, as Qlik’s M2M guide does', () => {
    const [, login, impersonation] = registrationRow('Allowed origins');
    expect(impersonation).not.toMatch(/^none$/i);
    expect(impersonation).toMatch(/app's origin/);
    expect(login).toMatch(/app's origin/);
    expect(guide).toContain(M2M_GUIDE);
    expect(guide).toMatch(
      /\[M2M\] says "If you plan to use the access token from a browser application, add it to the\s+Allowed Origins list"/,
    );
  });

  it('says Qlik documents /oauth/token errors only as errors[] and that decisions read the status, citing the API page', () => {
    expect(guide).toContain('https://qlik.dev/apis/rest/oauth/');
    expect(guide).toMatch(
      /documents `\/oauth\/token` errors only as\s+`\{"errors":\[\{"code","title","detail","status"\}\]\}`/,
    );
  });
});
