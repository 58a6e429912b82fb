import { describe, expect, it } from 'vitest';
import { capturingLogger } from '../support/logs.js';

describe('Support: capturingLogger', () => {
  it('captures every level it is asked to log, so secret-leak assertions can fail', () => {
    const { logger, lines, text } = capturingLogger();
    logger.info('hello', { a: 1 });
    logger.error('boom');
    expect(lines).toHaveLength(2);
    expect(text()).toContain('hello');
    expect(text()).toContain('boom');
  });
});
