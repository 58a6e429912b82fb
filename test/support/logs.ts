/** A Powertools logger whose output is captured, so tests can assert nothing secret is logged. */
import { Logger } from '@aws-lambda-powertools/logger';

/** A logger writing JSON lines into `lines`. */
export function capturingLogger(level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' = 'DEBUG') {
  const lines: string[] = [];
  const sink = (...args: unknown[]) => {
    lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  };
  const logger = new Logger({
    serviceName: 'qlik-token-vending-test',
    logLevel: level,
    customConfigService: undefined,
    logFormatter: undefined,
  });
  // Powertools writes through its console instance; redirect every level into the sink.
  const consoleLike = { log: sink, info: sink, warn: sink, error: sink, debug: sink, trace: sink };
  (logger as unknown as { console: typeof consoleLike }).console = consoleLike;
  return { logger, lines, text: () => lines.join('\n') };
}
