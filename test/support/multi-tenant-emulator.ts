/**
 * Several emulated Qlik Cloud tenants at once, as an ISV's customers have them: each tenant is a full
 * tenant emulator (test/support/tenant-emulator) with its own host (a loopback port), tenant ID, users, JWT
 * identity providers, OAuth clients, web integrations and admin API key. Nothing is shared between them, as
 * nothing is shared between two real Qlik Cloud tenants: a JWT IdP registered on one is unknown to the others,
 * so a token signed for one tenant is refused by every other (qlik.dev: each tenant's JWT IdP names the issuer
 * and key it trusts, https://qlik.dev/authenticate/jwt/create-signed-tokens-for-jwt-authorization/).
 * Tenants can be added while it runs (onboarding under load).
 */
import { startTenantEmulator, type TenantEmulator, type TenantEmulatorOptions } from './tenant-emulator/index.js';

/** A running set of emulated tenants, keyed by the ISV's tenant ID (the registry's). */
export interface MultiTenantEmulator {
  /** The tenants started so far. */
  readonly tenants: ReadonlyMap<string, TenantEmulator>;
  /** The emulator of `id`; throws for an unknown ID (a test bug). */
  tenant(id: string): TenantEmulator;
  /** Starts one more tenant. */
  addTenant(id: string, options?: TenantEmulatorOptions): Promise<TenantEmulator>;
  close(): Promise<void>;
}

/** Starts one emulated tenant per entry of `tenants` (each on its own free loopback port). */
export async function startMultiTenantEmulator(
  tenants: Readonly<Record<string, TenantEmulatorOptions>> = {},
): Promise<MultiTenantEmulator> {
  const running = new Map<string, TenantEmulator>();
  const addTenant = async (id: string, options: TenantEmulatorOptions = {}) => {
    if (running.has(id)) throw new TypeError(`tenant ${id} is already emulated`);
    const emulator = await startTenantEmulator(options);
    running.set(id, emulator);
    return emulator;
  };
  try {
    for (const [id, options] of Object.entries(tenants)) await addTenant(id, options);
  } catch (error) {
    await Promise.all([...running.values()].map((e) => e.close()));
    throw error;
  }
  return {
    tenants: running,
    tenant(id) {
      const emulator = running.get(id);
      if (emulator === undefined) throw new TypeError(`no emulated tenant ${id}`);
      return emulator;
    },
    addTenant,
    async close() {
      await Promise.all([...running.values()].map((e) => e.close()));
      running.clear();
    },
  };
}
