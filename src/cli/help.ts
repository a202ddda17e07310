/** `--help` texts, generated from the command specs so they never drift from the parser. */
import { COMMANDS } from './command-specs.js';
import { flagsHelp } from './flags.js';

const GLOBAL = `Usage:  switchyard [OPTIONS] COMMAND

Container networking with Docker's network model.

Global options:
  -H, --host string   Daemon socket (default unix:///run/switchyard/switchyard.sock,
                      or $SWITCHYARD_HOST)
  -h, --help          Print usage
  -v, --version       Print version information
`;

export function helpText(topic: string): string {
  const spec = COMMANDS[topic];
  if (spec !== undefined) {
    const hTaken = Object.values(spec.flags).some((f) => f.short === 'h');
    const flags = flagsHelp({ ...spec.flags, help: { type: 'boolean', ...(hTaken ? {} : { short: 'h' }), help: 'Print usage' } });
    return `Usage:  switchyard ${topic} ${spec.usage}\n\n${spec.summary}\n\nOptions:\n${flags}\n`;
  }
  const prefix = topic === '' ? '' : `${topic} `;
  const rows = Object.entries(COMMANDS).filter(([key]) => (topic === '' ? true : key.startsWith(prefix)));
  if (topic === '') rows.push(['daemon', { summary: 'Run the Switchyard daemon (see docs/CLI.md)' } as never]);
  const width = Math.max(...rows.map(([key]) => key.length)) + 3;
  const list = rows.map(([key, s]) => `  ${key.slice(prefix.length).padEnd(width)}${s.summary}`).join('\n');
  const head = topic === '' ? GLOBAL : `Usage:  switchyard ${topic} COMMAND\n`;
  return `${head}\nCommands:\n${list}\n\nRun 'switchyard ${prefix}COMMAND --help' for more information on a command.\n`;
}
