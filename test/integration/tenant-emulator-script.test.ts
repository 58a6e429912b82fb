import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('Function: npm run emulator (scripts/emulator.ts)', () => {
  it('starts a seeded emulator, prints its settings, serves impersonation for the demo user, and prints no oidc-provider warning', async () => {
    // Prepare
    const child = spawn('node_modules/.bin/tsx', ['scripts/emulator.ts'], {
      env: { ...process.env, EMULATOR_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const match = /Qlik tenant emulator on (http:\/\/\S+)/.exec(stdout);
          if (match && stdout.includes('Ctrl-C')) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`emulator exited with ${code}: ${stderr}`)));
      });

      // Act
      const response = await fetch(`${url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'urn:qlik:oauth:user-impersonation',
          client_id: 'demo-m2m-client',
          client_secret: 'demo-m2m-secret',
          scope: 'user_default',
          user_lookup: { field: 'subject', value: 'demo-user' },
        }),
      });
      const { access_token: accessToken } = (await response.json()) as { access_token: string };
      const me = await fetch(`${url}/api/v1/users/me`, { headers: { authorization: `Bearer ${accessToken}` } });

      // Assess
      expect(stdout).toContain('demo-web-client');
      expect(stdout).toContain('demo-web-integration');
      expect(await me.json()).toMatchObject({ subject: 'demo-user', name: 'Demo User' });
      expect(stderr).not.toContain('oidc-provider');
    } finally {
      child.kill('SIGTERM');
    }
  });
});
